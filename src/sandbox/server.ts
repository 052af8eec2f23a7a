/**
 * The sandbox EMR: Medplum's FhirRouter over SandboxRepository, served by
 * express at http://127.0.0.1:PORT/fhir/R4, with auth modes and quirks.
 * Its routes live in src/sandbox/routes/ (token and discovery, the FHIR API
 * with searches and Bulk Data), registered in routes/index.ts.
 */
import express from 'express';
import { FhirRouter } from '@medplum/fhir-router';
import { ensureDefinitionsIndexed } from '../validation/definitions';
import { listen } from '../listen';
import { AuthState, type SandboxAuth } from './auth';
import { BulkExports, type BulkCounters, type BulkExportOptions } from './bulk-export';
import { QuirkState, type QuirkCounters, type Quirks } from './quirks';
import { SandboxRepository } from './repository';
import { SandboxContext } from './routes/context';
import { SANDBOX_ROUTES } from './routes';
import { SmsStandIn, type SmsStandInOptions } from './sms-provider';

export { FHIR_BASE_PATH } from './routes/context';

export interface SandboxOptions {
  port?: number;
  host?: string;
  auth?: SandboxAuth;
  quirks?: Quirks;
  repo?: SandboxRepository;
  /** Clock for token expiry and export jobs (tests); default Date.now. */
  now?: () => number;
  /** Bulk Data `$export` timings (preparation time, file expiry, lines per file). */
  bulk?: BulkExportOptions;
  /** The SMS provider stand-in (docs/messaging.md, "Sandbox"), served at /twilio. */
  sms?: SmsStandInOptions;
}

export interface SandboxServer {
  baseUrl: string;
  tokenUrl: string;
  port: number;
  repo: SandboxRepository;
  auth: SandboxAuth;
  counters(): QuirkCounters;
  bulkCounters(): BulkCounters;
  /** New quirks for the next run; counters start again from zero. */
  setQuirks(quirks: Quirks): void;
  /** The SMS provider stand-in: its API base (apiBaseUrl), its messages, a patient's reply. */
  sms: SmsStandIn & { apiBaseUrl: string };
  close(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<SandboxServer> {
  ensureDefinitionsIndexed();
  const repo = options.repo ?? new SandboxRepository();
  const quirks = new QuirkState(options.quirks ?? {});
  const now = options.now ?? Date.now;
  const auth = new AuthState(options.auth ?? { mode: 'open' }, () => quirks.counters, now);
  const bulkExports = new BulkExports(repo, options.bulk ?? {}, () => quirks.quirks, now);
  const ctx = new SandboxContext(repo, new FhirRouter(), quirks, auth, bulkExports);
  const app = express();
  app.disable('x-powered-by');
  const sms = new SmsStandIn(options.sms);
  app.use(sms.router());
  for (const routes of SANDBOX_ROUTES) routes.register(app, ctx);

  const host = options.host ?? '127.0.0.1';
  const { server, port } = await listen(app, options.port ?? 0, host);
  ctx.origin = `http://${host}:${port}`;
  return {
    baseUrl: ctx.base(),
    tokenUrl: ctx.tokenUrl(),
    port,
    repo,
    auth: auth.auth,
    counters: () => quirks.counters,
    bulkCounters: () => bulkExports.counters,
    setQuirks: (q) => quirks.reset(q),
    sms: Object.assign(sms, { apiBaseUrl: `${ctx.origin}/twilio` }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
