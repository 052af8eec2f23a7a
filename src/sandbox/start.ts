/**
 * The one start sequence of the sandbox EMR (credentials, seeding, server),
 * shared by `fhir-engage sandbox` and the embedded sandbox of `npm start`.
 */
import type { SmsStandInOptions } from './sms-provider';
import { makeSandboxCredentials, type RegisteredClient, type SandboxAuthMode } from './credentials';
import type { Quirks } from './quirks';
import { SandboxRepository } from './repository';
import { seedRepository, type SeedResult } from './seed';
import { startSandbox, type SandboxServer } from './server';

/** Midnight UTC today: the default end of the generated year, so that data is current. */
export function todayAnchor(now: Date = new Date()): string {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate())).toISOString();
}

export interface SandboxStartOptions {
  patients: number;
  seed: number;
  /** End of the generated year (default: today 00:00 UTC). */
  anchor?: string;
  auth: SandboxAuthMode;
  /** smart-backend: a client registered by its JWKS URL instead of a key made here. */
  registered?: RegisteredClient;
  /** Where generated credentials (keys) are kept between starts. */
  credentialsDir: string;
  port?: number;
  host?: string;
  quirks?: Quirks;
  fixtures?: boolean;
  invalidResources?: number;
  /** The SMS provider stand-in's behaviour (failure rate, seed). */
  sms?: SmsStandInOptions;
}

export interface StartedSandbox {
  server: SandboxServer;
  credentials: Awaited<ReturnType<typeof makeSandboxCredentials>>;
  seeded: SeedResult;
}

export async function startSeededSandbox(options: SandboxStartOptions): Promise<StartedSandbox> {
  const credentials = await makeSandboxCredentials(options.auth, options.credentialsDir, options.registered);
  const repo = new SandboxRepository();
  const seeded = await seedRepository(repo, {
    patients: options.patients,
    seed: options.seed,
    anchor: options.anchor ?? todayAnchor(),
    ...(options.fixtures !== undefined ? { fixtures: options.fixtures } : {}),
    ...(options.invalidResources !== undefined ? { invalidResources: options.invalidResources } : {}),
  });
  const server = await startSandbox({
    port: options.port,
    host: options.host,
    repo,
    auth: credentials.server,
    quirks: options.quirks ?? {},
    ...(options.sms ? { sms: options.sms } : {}),
  });
  return { server, credentials, seeded };
}
