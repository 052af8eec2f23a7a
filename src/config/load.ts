/**
 * The one configuration loader: environment plus the optional sources file,
 * parsed once and frozen.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { envValue, type Env } from './env';
import { loadSourcesFile } from './sources-file';
import type { AppConfig } from './types';
import { configError } from '../errors';
import { DEFAULT_INDICATOR_SETTINGS } from '../indicators/settings';
import { DEFAULT_ACTION_SETTINGS } from '../actions/settings';

const DEFAULT_FILES = ['fhir-engage.config.yaml', 'fhir-engage.config.yml', 'fhir-engage.config.json'];
const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) {
      deepFreeze(v);
    }
    Object.freeze(value);
  }
  return value;
}

/** Which sources file applies: FHIR_ENGAGE_CONFIG, else a default name in `cwd`, else none. */
export function resolveConfigFile(env: Env, cwd: string): string | undefined {
  const explicit = envValue(env, 'FHIR_ENGAGE_CONFIG');
  if (explicit) {
    return path.resolve(cwd, explicit);
  }
  return DEFAULT_FILES.map((f) => path.join(cwd, f)).find((f) => existsSync(f));
}

export interface LoadOptions {
  env?: Env;
  cwd?: string;
  /** Overrides FHIR_ENGAGE_CONFIG (the CLI's --config). */
  configFile?: string;
}

export function loadConfig(options: LoadOptions = {}): AppConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const configFile = options.configFile ? path.resolve(cwd, options.configFile) : resolveConfigFile(env, cwd);
  const file = configFile ? loadSourcesFile(configFile, env) : { sources: [] };
  const sources = file.sources ?? [];
  const indicators = {
    ...DEFAULT_INDICATOR_SETTINGS,
    ...file.indicators,
    weights: { ...DEFAULT_INDICATOR_SETTINGS.weights, ...file.indicators?.weights },
    tiers: { ...DEFAULT_INDICATOR_SETTINGS.tiers, ...file.indicators?.tiers },
  };
  if (indicators.tiers.atRisk > indicators.tiers.engaged) {
    throw configError(`${configFile}: indicators.tiers.atRisk (${indicators.tiers.atRisk}) must not be above indicators.tiers.engaged (${indicators.tiers.engaged})`, ['indicators.tiers']);
  }
  if (Object.values(indicators.weights).every((w) => w === 0)) {
    throw configError(`${configFile}: indicators.weights must not all be 0`, ['indicators.weights']);
  }
  const actions = { ...DEFAULT_ACTION_SETTINGS, ...file.actions };

  const logLevel = envValue(env, 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) {
    throw configError(`LOG_LEVEL must be one of ${[...LOG_LEVELS].join(', ')}; got "${logLevel}"`, ['LOG_LEVEL']);
  }
  const databaseUrl = envValue(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw configError('DATABASE_URL must start with postgres:// or postgresql://', ['DATABASE_URL']);
  }
  const schema = envValue(env, 'DATABASE_SCHEMA') ?? 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw configError('DATABASE_SCHEMA must be a lower-case SQL identifier', ['DATABASE_SCHEMA']);
  }
  return deepFreeze({
    configFile,
    sources,
    indicators,
    actions,
    store: {
      databaseUrl,
      schema,
      dataDir: path.resolve(cwd, envValue(env, 'FHIR_ENGAGE_DATA_DIR') ?? './data'),
    },
    logLevel,
  });
}
