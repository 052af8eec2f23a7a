/**
 * The read commands (`runs`, `dead-letters`, `report`) while `serve` or `start` holds the embedded store
 * (PGlite is one process): the service leaves, in its owner-only data directory, where it listens and a
 * key of its own for them — made at each start (the previous one revoked), roles integration and
 * programme-lead, 30 days — so that they read through its API with no extra environment variable. Only
 * for the embedded store: a PostgreSQL deployment's CLI opens the store itself.
 */
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeApiKey } from '../api/auth';
import type { AppConfig } from '../config/types';
import { OWNER_FILE_MODE } from '../owner-only';
import type { Store } from '../store/store';

const NAME = 'local CLI (embedded store)';
const FILE = 'service-cli.json';

export interface LocalService {
  /** The API's base URL (…/api). */
  api: string;
  key: string;
}

const fileOf = (config: AppConfig): string | undefined =>
  config.store.databaseUrl ? undefined : path.join(config.store.dataDir, FILE);

/** Makes this start's key (revoking the last start's) and writes where the service listens. */
export async function leaveLocalAccess(store: Store, config: AppConfig, api: string): Promise<void> {
  const file = fileOf(config);
  if (!file) return;
  const now = new Date();
  for (const k of await store.listApiKeys()) if (k.name === NAME && !k.revokedAt) await store.revokeApiKey(k.id, now);
  const made = await makeApiKey(store, {
    name: NAME,
    roles: ['integration', 'programme-lead'],
    sources: null,
    expiresAt: new Date(now.getTime() + 30 * 86_400_000),
    createdBy: 'serve',
  });
  writeFileSync(file, `${JSON.stringify({ api, key: made.key })}\n`, { mode: OWNER_FILE_MODE });
  chmodSync(file, OWNER_FILE_MODE);
}

/** Removed when the service stops: nothing answers there any more. */
export function removeLocalAccess(config: AppConfig): void {
  const file = fileOf(config);
  if (file) rmSync(file, { force: true });
}

/** Where the service holding the embedded store listens, and its key for the CLI, if it left them. */
export function localService(config: AppConfig): LocalService | undefined {
  const file = fileOf(config);
  if (!file || !existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalService>;
    return typeof v.api === 'string' && typeof v.key === 'string' ? { api: v.api, key: v.key } : undefined;
  } catch {
    return undefined;
  }
}
