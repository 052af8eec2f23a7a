/**
 * The one configuration loader: environment plus the optional sources file,
 * parsed once and frozen.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isLogLevel, LOG_LEVELS, type Env } from '../log/levels';
import { envValue } from './env';
import { loadSourcesFile } from './sources-file';
import type { AppConfig, ProxySettings, SourceConfig } from './types';
import { programmesOf } from './programme-settings';
import {
  DEFAULT_MESSAGES_PER_SECOND,
  DEFAULT_SURVEY_REQUESTS_PER_MINUTE,
  parseLinkKeys,
  TWILIO_API,
  type MessagingSettings,
  type SurveyPageSettings,
} from './messaging-settings';
import { DEFAULT_SSO_SESSION, type SsoSettings } from './sso-settings';
import type { SmtpSettings } from './alert-settings';
import { configError } from '../errors';
import { DEFAULT_INDICATOR_SETTINGS } from './indicator-settings';
import { DEFAULT_RESEND_AFTER_MINUTES } from './alert-settings';
import { DEFAULT_ACTION_SETTINGS } from './action-settings';

const DEFAULT_FILES = ['fhir-engage.config.yaml', 'fhir-engage.config.yml', 'fhir-engage.config.json'];

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
  const proxy = proxyOf(env);
  const mappingsDir = mappingsDirOf(env, cwd, file, configFile);
  const sources = (file.sources ?? []).map((s) => (proxy.httpProxy || proxy.httpsProxy ? { ...s, proxy } : s));
  const logLevel = envValue(env, 'LOG_LEVEL') ?? 'info';
  if (!isLogLevel(logLevel)) {
    throw configError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got "${logLevel}"`, ['LOG_LEVEL']);
  }
  const asOfText = envValue(env, 'FHIR_ENGAGE_AS_OF');
  if (asOfText !== undefined && Number.isNaN(Date.parse(asOfText))) {
    throw configError(`--as-of / FHIR_ENGAGE_AS_OF must be an ISO date or instant, got "${asOfText}"`, [
      'FHIR_ENGAGE_AS_OF',
    ]);
  }
  return deepFreeze({
    configFile,
    sources,
    indicators: indicatorSettings(file, configFile),
    actions: {
      ...DEFAULT_ACTION_SETTINGS,
      ...file.actions,
      reminders: { ...DEFAULT_ACTION_SETTINGS.reminders, ...file.actions?.reminders },
      surveys: { ...DEFAULT_ACTION_SETTINGS.surveys, ...file.actions?.surveys },
    },
    store: storeOf(env, cwd),
    logLevel,
    keysDir: path.resolve(cwd, envValue(env, 'FHIR_ENGAGE_KEYS_DIR') ?? './keys'),
    ...(mappingsDir ? { mappingsDir } : {}),
    service: serviceOf(env),
    ...(asOfText !== undefined ? { asOf: new Date(Date.parse(asOfText)) } : {}),
    ...(file.safetyAlerts
      ? { safetyAlerts: { resendAfterMinutes: DEFAULT_RESEND_AFTER_MINUTES, ...file.safetyAlerts } }
      : {}),
    ...messagingOf(env, cwd, file, configFile, sources),
    ...(file.sso ? { sso: ssoOf(file.sso, sources, configFile) } : {}),
  });
}

/** `messaging:` with its defaults; a programme (or source) that asks for direct delivery needs a channel. */
function messagingOf(
  env: Env,
  cwd: string,
  file: SourcesFile,
  configFile: string | undefined,
  sources: SourceConfig[],
): { messaging?: MessagingSettings } {
  const direct = sources.flatMap((s) =>
    programmesOf(s)
      .filter((p) => (p.delivery ?? s.delivery) === 'direct')
      .map((p) => `${s.id}/${p.id}`),
  );
  const m = file.messaging;
  if (!m) {
    if (direct.length)
      throw configError(
        `${configFile}: ${direct.join(', ')} ask for delivery: direct, but there is no messaging: section (docs/messaging.md)`,
        ['messaging'],
      );
    return {};
  }
  if (!m.sms && !m.email && direct.length)
    throw configError(`${configFile}: messaging: needs sms: or email: for delivery: direct`, ['messaging']);
  if (m.sms && !m.sms.messagingServiceSid && !m.sms.from)
    throw configError(`${configFile}: messaging.sms needs messagingServiceSid or from`, ['messaging.sms']);
  if ((m.unsubscribeSecret ?? '').length < 32)
    throw configError(`${configFile}: messaging.unsubscribeSecret must be 32 characters or more`, [
      'messaging.unsubscribeSecret',
    ]);
  const templatesDir = overridesDirOf(
    env,
    cwd,
    'FHIR_ENGAGE_TEMPLATES',
    { name: 'messaging.templatesDir', value: m.templatesDir },
    configFile,
    'templates',
  );
  return {
    messaging: {
      publicUrl: (m.publicUrl as string).replace(/\/+$/, ''),
      clinic: m.clinic as MessagingSettings['clinic'],
      unsubscribeSecret: m.unsubscribeSecret as string,
      ...(templatesDir ? { templatesDir } : {}),
      ...(m.sms
        ? {
            sms: {
              provider: 'twilio' as const,
              apiBaseUrl: (m.sms.apiBaseUrl ?? TWILIO_API).replace(/\/+$/, ''),
              accountSid: m.sms.accountSid as string,
              authToken: m.sms.authToken as string,
              ...(m.sms.messagingServiceSid ? { messagingServiceSid: m.sms.messagingServiceSid } : {}),
              ...(m.sms.from ? { from: m.sms.from } : {}),
              ...(m.sms.defaultCountryCode ? { defaultCountryCode: m.sms.defaultCountryCode } : {}),
              messagesPerSecond: m.sms.messagesPerSecond ?? DEFAULT_MESSAGES_PER_SECOND.sms,
            },
          }
        : {}),
      ...surveysOf(m.surveys, configFile),
      ...(m.email
        ? {
            email: {
              from: m.email.from as string,
              smtp: m.email.smtp as SmtpSettings,
              messagesPerSecond: m.email.messagesPerSecond ?? DEFAULT_MESSAGES_PER_SECOND.email,
            },
          }
        : {}),
    },
  };
}

/** `messaging.surveys:` with its defaults; the link keys read (in words when they are not usable, never echoed). */
function surveysOf(
  given: NonNullable<SourcesFile['messaging']>['surveys'],
  configFile: string | undefined,
): { surveys?: SurveyPageSettings } {
  if (!given) return {};
  let linkKeys;
  try {
    linkKeys = parseLinkKeys(String(given.linkKeys ?? ''));
  } catch (err) {
    throw configError(
      `${configFile}: messaging.surveys.linkKeys: ${(err as Error).message} (docs/surveys.md, "Keys")`,
      ['messaging.surveys.linkKeys'],
    );
  }
  return {
    surveys: {
      linkKeys,
      confirmBirthDate: given.confirmBirthDate ?? false,
      requestsPerMinute: given.requestsPerMinute ?? DEFAULT_SURVEY_REQUESTS_PER_MINUTE,
      ...(given.crisis ? { crisis: given.crisis } : {}),
    },
  };
}

/** `sso:` with its defaults; grants naming a source that does not exist are refused in words. */
function ssoOf(
  given: NonNullable<SourcesFile['sso']>,
  sources: SourceConfig[],
  configFile: string | undefined,
): SsoSettings {
  const known = new Set(sources.map((s) => s.id));
  const grants = { ...(given.roles ?? {}), ...(given.users ?? {}) };
  for (const [who, g] of Object.entries(grants)) {
    const unknown = (g.sources ?? []).filter((s) => !known.has(s));
    if (unknown.length)
      throw configError(
        `${configFile}: sso grant "${who}" names no source ${unknown.join(', ')}; sources: ${[...known].join(', ')}`,
        ['sso'],
      );
  }
  return {
    issuer: String(given.issuer).replace(/\/+$/, ''),
    clientId: String(given.clientId),
    clientSecret: String(given.clientSecret),
    publicUrl: String(given.publicUrl).replace(/\/+$/, ''),
    scopes: given.scopes ?? ['openid', 'profile', 'email'],
    rolesClaim: given.rolesClaim ?? 'groups',
    roles: given.roles ?? {},
    users: Object.fromEntries(Object.entries(given.users ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    session: { ...DEFAULT_SSO_SESSION, ...given.session },
  };
}

type SourcesFile = ReturnType<typeof loadSourcesFile>;

/** Node's fetch ignores the proxy variables: read here, used by the one HTTP transport (src/fhir/network.ts). */
function proxyOf(env: Env): ProxySettings {
  const either = (upper: 'HTTPS_PROXY' | 'HTTP_PROXY' | 'NO_PROXY'): string | undefined =>
    envValue(env, upper) ?? (env[upper.toLowerCase()] || undefined);
  const [httpsProxy, httpProxy, noProxy] = [either('HTTPS_PROXY'), either('HTTP_PROXY'), either('NO_PROXY')];
  return {
    ...(httpsProxy ? { httpsProxy } : {}),
    ...(httpProxy ? { httpProxy } : {}),
    ...(noProxy ? { noProxy } : {}),
  };
}

/**
 * A folder of overrides outside the installation: the environment variable's (from the working
 * directory), else the sources file's key (beside the file); it must exist.
 */
function overridesDirOf(
  env: Env,
  cwd: string,
  variable: 'FHIR_ENGAGE_MAPPINGS' | 'FHIR_ENGAGE_TEMPLATES',
  key: { name: string; value: string | undefined },
  configFile: string | undefined,
  what: string,
): string | undefined {
  const fromEnv = envValue(env, variable);
  const dir = fromEnv
    ? path.resolve(cwd, fromEnv)
    : key.value && configFile
      ? path.resolve(path.dirname(configFile), key.value)
      : undefined;
  if (dir && !existsSync(dir))
    throw configError(`the ${what} folder ${dir} (${fromEnv ? variable : key.name}) does not exist`, [
      fromEnv ? variable : key.name,
    ]);
  return dir;
}

/** FHIR_ENGAGE_MAPPINGS, else the sources file's mappingsDir (beside the file); it must exist. */
function mappingsDirOf(env: Env, cwd: string, file: SourcesFile, configFile: string | undefined): string | undefined {
  return overridesDirOf(
    env,
    cwd,
    'FHIR_ENGAGE_MAPPINGS',
    { name: 'mappingsDir', value: file.mappingsDir },
    configFile,
    'mappings',
  );
}

/** The file's indicator settings over the defaults: tiers in order, weights not all 0. */
function indicatorSettings(file: SourcesFile, configFile: string | undefined): AppConfig['indicators'] {
  const indicators = {
    ...DEFAULT_INDICATOR_SETTINGS,
    ...file.indicators,
    weights: { ...DEFAULT_INDICATOR_SETTINGS.weights, ...file.indicators?.weights },
    tiers: { ...DEFAULT_INDICATOR_SETTINGS.tiers, ...file.indicators?.tiers },
  };
  if (indicators.tiers.atRisk > indicators.tiers.engaged) {
    throw configError(
      `${configFile}: indicators.tiers.atRisk (${indicators.tiers.atRisk}) must not be above indicators.tiers.engaged (${indicators.tiers.engaged})`,
      ['indicators.tiers'],
    );
  }
  if (Object.values(indicators.weights).every((w) => w === 0)) {
    throw configError(`${configFile}: indicators.weights must not all be 0`, ['indicators.weights']);
  }
  return indicators;
}

/** The service's settings from the environment: port, host, API keys, audit retention, trusted proxies. */
function serviceOf(env: Env): AppConfig['service'] {
  const portText = envValue(env, 'FHIR_ENGAGE_PORT') ?? '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535)
    throw configError(`FHIR_ENGAGE_PORT must be a port number (0–65535); got "${portText}"`, ['FHIR_ENGAGE_PORT']);
  const host = envValue(env, 'FHIR_ENGAGE_HOST') ?? '127.0.0.1';
  if (!/^[A-Za-z0-9.:\-[\]]{1,255}$/.test(host))
    throw configError('FHIR_ENGAGE_HOST must be a host name or an IP address', ['FHIR_ENGAGE_HOST']);
  const retentionText = envValue(env, 'FHIR_ENGAGE_AUDIT_RETENTION_DAYS') ?? '400';
  if (!/^\d{1,5}$/.test(retentionText) || Number(retentionText) < 1)
    throw configError('FHIR_ENGAGE_AUDIT_RETENTION_DAYS must be a whole number of days (at least 1)', [
      'FHIR_ENGAGE_AUDIT_RETENTION_DAYS',
    ]);
  const trustedProxies = listOf(envValue(env, 'FHIR_ENGAGE_TRUSTED_PROXIES'));
  for (const p of trustedProxies) {
    if (!/^(loopback|linklocal|uniquelocal|[0-9A-Fa-f.:]+(\/\d{1,3})?)$/.test(p))
      throw configError(
        `FHIR_ENGAGE_TRUSTED_PROXIES: "${p}" is not an address, a CIDR range, loopback, linklocal or uniquelocal`,
        ['FHIR_ENGAGE_TRUSTED_PROXIES'],
      );
  }
  const apiKeys = listOf(envValue(env, 'FHIR_ENGAGE_API_KEY'));
  return { port, host, apiKeys, auditRetentionDays: Number(retentionText), trustedProxies };
}

const listOf = (text: string | undefined): string[] =>
  (text ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);

/** The store: PostgreSQL (DATABASE_URL, DATABASE_SCHEMA), else PGlite in FHIR_ENGAGE_DATA_DIR. */
function storeOf(env: Env, cwd: string): AppConfig['store'] {
  const databaseUrl = envValue(env, 'DATABASE_URL');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw configError('DATABASE_URL must start with postgres:// or postgresql://', ['DATABASE_URL']);
  }
  const schema = envValue(env, 'DATABASE_SCHEMA') ?? 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw configError('DATABASE_SCHEMA must be a lower-case SQL identifier', ['DATABASE_SCHEMA']);
  }
  return { databaseUrl, schema, dataDir: path.resolve(cwd, envValue(env, 'FHIR_ENGAGE_DATA_DIR') ?? './data') };
}
