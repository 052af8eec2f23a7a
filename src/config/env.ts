/**
 * Every environment variable fhir-engage reads, documented once.
 * `.env.example` is checked against this list by a test, so the two cannot
 * drift apart.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import type { Env } from '../log/levels';
import { readTextFile } from '../text-file';
export interface EnvVarSpec {
  /** What it does, for a reader of `.env.example`. */
  purpose: string;
  /** Value used when unset; `undefined` means "unset is meaningful". */
  default?: string;
  example: string;
  /** A secret: never logged, never echoed by `config check`. */
  secret?: boolean;
}

export const ENV_VARS = {
  FHIR_ENGAGE_CONFIG: {
    purpose:
      'Path of the sources file (YAML or JSON). Unset: ./fhir-engage.config.yaml or .json if present, otherwise no EMR is configured and `npm start` syncs the built-in sandbox EMR.',
    example: './fhir-engage.config.yaml',
  },
  DATABASE_URL: {
    purpose:
      'PostgreSQL server to store into (postgres://user:pass@host:5432/db). Unset: the embedded PGlite store in FHIR_ENGAGE_DATA_DIR.',
    example: 'postgres://fhir_engage@127.0.0.1:5432/fhir_engage',
    secret: true,
  },
  DATABASE_SCHEMA: {
    purpose: 'PostgreSQL schema holding fhir-engage tables (created if missing). Only with DATABASE_URL.',
    default: 'public',
    example: 'fhir_engage',
  },
  FHIR_ENGAGE_DATA_DIR: {
    purpose: 'Directory of the embedded PGlite store, used when DATABASE_URL is unset.',
    default: './data',
    example: '/var/lib/fhir-engage',
  },
  LOG_FORMAT: {
    purpose:
      "What stderr carries: json (one record per line: log records, the command's messages and its progress) or pretty (lines for a person). Same as --log-format. Unset: pretty when stderr is a terminal, json otherwise (a service, a scheduler, CI).",
    example: 'pretty',
  },
  LOG_LEVEL: {
    purpose:
      'pino log level: fatal, error, warn, info, debug, trace or silent. Unset: info, or warn when stderr is a terminal (the progress lines say the same).',
    default: 'info',
    example: 'debug',
  },
  FHIR_ENGAGE_API_KEY: {
    purpose:
      'API key(s) for the HTTP API, comma-separated (sent as X-API-Key or Authorization: Bearer). Unset: `start`/`serve` make a random key and print it once; health, ready and metrics stay open.',
    example: 'change-me-to-a-long-random-string',
    secret: true,
  },
  FHIR_ENGAGE_PORT: {
    purpose: 'Port of the HTTP API of `start` and `serve` (also --port).',
    default: '8080',
    example: '8080',
  },
  FHIR_ENGAGE_HOST: {
    purpose:
      'Address the HTTP API of `start` and `serve` listens on (also --host). Unset: 127.0.0.1, this machine only; 0.0.0.0 to serve other machines (in a container, or behind a TLS proxy).',
    default: '127.0.0.1',
    example: '0.0.0.0',
  },
  FHIR_ENGAGE_TRUSTED_PROXIES: {
    purpose:
      "Addresses of the TLS proxies in front of the HTTP API, comma-separated (addresses, CIDR ranges, or loopback / linklocal / uniquelocal). Only then is a client's address taken from X-Forwarded-For (for the limit on wrong API keys per address); unset, X-Forwarded-For is ignored and the connection's address is used.",
    example: 'loopback,10.0.0.0/8',
  },
  FHIR_ENGAGE_AUDIT_RETENTION_DAYS: {
    purpose:
      "Days the access log (who read which patient's data through the API) is kept; older rows are removed by the running service once a day.",
    default: '400',
    example: '2190',
  },
  HTTPS_PROXY: {
    purpose:
      'Proxy for https:// requests to EMRs and token endpoints (http://proxy:3128; CONNECT tunnels). Lower-case https_proxy is read too.',
    example: 'http://proxy.hospital.example:3128',
  },
  HTTP_PROXY: {
    purpose: 'Proxy for plain http:// requests (lower-case http_proxy is read too).',
    example: 'http://proxy.hospital.example:3128',
  },
  NO_PROXY: {
    purpose:
      'Hosts reached without the proxy: comma-separated names, domains (.example.org) or addresses (lower-case no_proxy is read too).',
    example: 'localhost,127.0.0.1,.internal.example',
  },
  NODE_OPTIONS: {
    purpose:
      "Node.js's own options. fhir-engage sets V8's young generation to 64 MB semi-spaces (less garbage-collection work per synced resource) unless a --max-semi-space-size is given here.",
    example: '--max-semi-space-size=32',
  },
  FHIR_ENGAGE_MAPPINGS: {
    purpose:
      'A folder of mapping overrides outside the installation (sources/<id>/<Type>.yaml, sources/<id>/questionnaires/…), so that upgrades keep them; same as mappingsDir in the sources file, which it overrides.',
    example: '/etc/fhir-engage/mappings',
  },
  FHIR_ENGAGE_ENV_FILE: {
    purpose:
      'A file of environment variables read at start (KEY=value lines, as .env): default ./.env when it exists; what the environment already sets wins.',
    example: '/etc/fhir-engage/fhir-engage.env',
  },
  FHIR_ENGAGE_TEMPLATES: {
    purpose:
      'A folder of message template overrides (templates/README.md: <kind>.<language>.<channel>.txt) outside the installation; same as messaging.templatesDir in the sources file, which it overrides.',
    example: '/etc/fhir-engage/templates',
  },
  FHIR_ENGAGE_KEYS_DIR: {
    purpose:
      "Directory of signing keys made by `fhir-engage keys generate` (<kid>.pem, mode 0600); their public halves are published at /.well-known/jwks.json (with every smart-backend source's key), so a new key can be registered before a rotation.",
    default: './keys',
    example: '/etc/fhir-engage/keys',
  },
  FHIR_ENGAGE_AS_OF: {
    purpose:
      'Instant that indicators, windows and rules are computed at (same as `sync --as-of`); resources keep their own timestamps; `start` with the built-in sandbox brings its clinic up to that day. Unset: the current time.',
    example: '2026-06-30T23:59:59Z',
  },
  TEST_DATABASE_URL: {
    purpose:
      'Tests only: when set, the store conformance and end-to-end suites also run on this PostgreSQL server, each in a schema of its own that is dropped afterwards.',
    example: 'postgres://postgres@127.0.0.1:5432/test',
  },
} as const satisfies Record<string, EnvVarSpec>;

export type EnvVarName = keyof typeof ENV_VARS;

/** The value of a variable, falling back to its documented default. */
export function envValue(env: Env, name: EnvVarName): string | undefined {
  const raw = env[name];
  if (raw !== undefined && raw !== '') {
    return raw;
  }
  const spec: EnvVarSpec = ENV_VARS[name];
  return spec.default;
}

/**
 * The working directory's `.env` (or FHIR_ENGAGE_ENV_FILE's file), read into `env` before anything
 * else: what the environment already sets wins; nothing is printed (the file holds secrets). Returns
 * the names it set.
 */
export function loadDotEnv(cwd: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const file = env.FHIR_ENGAGE_ENV_FILE ? path.resolve(cwd, env.FHIR_ENGAGE_ENV_FILE) : path.join(cwd, '.env');
  if (!existsSync(file)) return [];
  const parsed = parseEnv(readTextFile(file, 'environment file'));
  const set: string[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (env[name] !== undefined || value === undefined) continue;
    env[name] = value;
    set.push(name);
  }
  return set;
}
