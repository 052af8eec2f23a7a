/**
 * The read commands (`runs`, `dead-letters`, `report`) while `serve` or
 * `start` holds the embedded store (PGlite is one process): the same data,
 * read through the running service's API: with FHIR_ENGAGE_API_KEY at
 * FHIR_ENGAGE_HOST:FHIR_ENGAGE_PORT, or else with the address and key the service
 * left in its data directory (scheduler/local-cli-access.ts).
 */
import type { AppConfig } from '../config/types';
import { describeError, storeError } from '../errors';
import { openStore } from '../store/open';
import type { Store } from '../store/store';
import type { DeadLetter, RunRecord } from '../store/types';
import { localService } from '../scheduler/local-cli-access';

/** The store's refusal when another live process holds the embedded store. */
export function storeHeldByService(err: unknown): boolean {
  return /is in use by process \d+/.test(describeError(err));
}

export interface ServiceReader {
  base: string;
  listRuns(o: { sourceId?: string; limit: number }): Promise<RunRecord[]>;
  listDeadLetters(o: { sourceId?: string; runId?: string; limit: number }): Promise<DeadLetter[]>;
  report(q: { format: string; from: Date; to: Date; sourceId?: string }): Promise<string>;
}

const date = (v: unknown): Date => new Date(String(v));

/**
 * A reader of the running service, or undefined when the CLI has no key to ask it with: FHIR_ENGAGE_API_KEY
 * (at FHIR_ENGAGE_HOST:FHIR_ENGAGE_PORT), else the address and key the service left in its data directory.
 */
export function serviceReader(config: AppConfig): ServiceReader | undefined {
  const local = localService(config);
  const key = config.service.apiKeys[0] ?? local?.key;
  if (!key) return undefined;
  const host = config.service.host === '0.0.0.0' || config.service.host === '::' ? '127.0.0.1' : config.service.host;
  const base =
    config.service.apiKeys[0] || !local
      ? `http://${host.includes(':') ? `[${host}]` : host}:${config.service.port}/api`
      : local.api;
  const get = async (path: string): Promise<Response> => {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { headers: { 'x-api-key': key } });
    } catch {
      throw storeError(
        `the embedded store is held by another process, and no fhir-engage service answers at ${base} (FHIR_ENGAGE_HOST, FHIR_ENGAGE_PORT)`,
      );
    }
    if (!res.ok)
      throw storeError(
        `the running service at ${base} answered HTTP ${res.status} (is FHIR_ENGAGE_API_KEY one of its keys?)`,
      );
    return res;
  };
  const params = (o: Record<string, string | number | undefined>): string => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(o)) if (v !== undefined) p.set(k, String(v));
    return p.toString();
  };
  return {
    base,
    async listRuns(o) {
      const { runs } = (await (await get(`/runs?${params({ source: o.sourceId, limit: o.limit })}`)).json()) as {
        runs: Record<string, unknown>[];
      };
      return runs.map((r) => ({
        ...(r as unknown as RunRecord),
        asOf: date(r.asOf),
        startedAt: date(r.startedAt),
        heartbeatAt: date(r.heartbeatAt),
        finishedAt: r.finishedAt ? date(r.finishedAt) : null,
      }));
    },
    async listDeadLetters(o) {
      const { deadLetters } = (await (
        await get(`/dead-letters?${params({ source: o.sourceId, run: o.runId, limit: o.limit })}`)
      ).json()) as { deadLetters: Record<string, unknown>[] };
      return deadLetters.map((d) => ({ ...(d as unknown as DeadLetter), payload: null, createdAt: date(d.createdAt) }));
    },
    async report(q) {
      return (
        await get(
          `/programme/report?${params({ format: q.format, from: q.from.toISOString(), to: q.to.toISOString(), source: q.sourceId })}`,
        )
      ).text();
    },
  };
}

/**
 * The store, or — when the running service holds the embedded store and the CLI has a key — a reader
 * of the service's API (said on stderr). Anything else that stops the store from opening is thrown.
 */
export async function openStoreOrService(
  config: AppConfig,
  say: (line: string) => void,
): Promise<{ store: Store } | { reader: ServiceReader }> {
  try {
    return { store: await openStore(config.store, { migrate: false }) };
  } catch (err) {
    const reader = storeHeldByService(err) ? serviceReader(config) : undefined;
    if (!reader) throw err;
    say(`the embedded store is held by the running service: reading through its API at ${reader.base}`);
    return { reader };
  }
}
