import type { LogLevel } from '../log/levels';
import type { StoreSettings } from '../store/open';
/** Typed shape of a validated sources file (see config.schema.json for the documentation of every field). */

export type AuthConfig =
  | { type: 'none' }
  | { type: 'bearer'; token: string }
  | { type: 'basic'; username: string; password: string }
  | { type: 'client_credentials'; tokenUrl: string; clientId: string; clientSecret: string; scope?: string }
  | {
      type: 'smart-backend';
      clientId: string;
      keyFile: string;
      keyId?: string;
      algorithm: 'RS384' | 'ES384';
      tokenUrl?: string;
      scope: string;
    };

export type SourceResourceType =
  'Patient' | 'Appointment' | 'CarePlan' | 'QuestionnaireResponse' | 'Questionnaire' | 'Task';

export interface WriteTargetConfig {
  baseUrl: string;
  auth?: AuthConfig;
}

export interface SourceConfig {
  id: string;
  name?: string;
  /** Who is enrolled and what each programme does (config/programme-settings.ts); omitted: DEFAULT_PROGRAMME. */
  programmes?: ProgrammeDefinition[];
  baseUrl: string;
  auth: AuthConfig;
  resourceTypes: SourceResourceType[];
  pageSize: number;
  mode: 'system' | 'per-patient';
  perPatientTypes?: SourceResourceType[];
  /** With mode per-patient: the Group whose members are searched (config.schema.json); defaults to pull.bulk.groupId. */
  perPatientGroup?: string;
  schedule?: string;
  rateLimit: { requestsPerSecond: number; concurrency: number };
  timeoutMs: number;
  maxRetries: number;
  overlapSeconds: number;
  /** New writes per transaction Bundle (default 50; 1 = one request per write). */
  writeBatchSize: number;
  writeBack: boolean;
  /** Write the assigned Questionnaires to the EMR too (docs/surveys.md); default false. */
  writeQuestionnaires?: boolean;
  writeTarget?: WriteTargetConfig;
  /** Extra trusted CAs (a PEM file; the path is resolved against the sources file). */
  tls?: { caFile?: string };
  /** Proxy settings from HTTPS_PROXY / HTTP_PROXY / NO_PROXY, filled in by the config loader. */
  proxy?: ProxySettings;
  /** How resources are fetched: searches, or Bulk Data `$export` (docs in config.schema.json). */
  pull: { method: 'search' | 'bulk' | 'auto'; bulk: BulkSettings };
  /** Origins besides the base URL's that the server's URLs may point to (config.schema.json). */
  allowedOrigins?: string[];
  /** Bounds on what the server sends and how long a run takes; defaults in DEFAULT_LIMITS. */
  limits?: Partial<SourceLimits>;
  /** When planned writes wait for a person's approval (docs/programme.md); defaults in DEFAULT_APPROVAL. */
  approval?: Partial<ApprovalSettings>;
  /** The clinic's IANA time zone (default UTC); a programme's own overrides it. */
  timeZone?: string;
  /** Phased start of every programme of the source that does not set its own (default: each instrument's cadence). */
  phasedStart?: { days: number };
  /** New Tasks per programme and run, for programmes that do not set their own (default 1000). */
  maxNewTasksPerRun?: number;
  /** The default programme's delivery (a source without `programmes:`): docs/messaging.md. */
  delivery?: Delivery;
  /** Write each enrolment back as an EpisodeOfCare (default false). */
  episodesOfCare?: boolean;
}

export interface ApprovalSettings {
  /** `hold`: a source that has never written plans its first writes and waits for `fhir-engage approve`. */
  firstRun: 'hold' | 'write';
  /** A later run's plan is held too when it exceeds both holdFloor writes and holdAbove × the median of the last 10 runs that wrote. */
  holdAbove: number;
  holdFloor: number;
}

export const DEFAULT_APPROVAL: ApprovalSettings = Object.freeze({
  firstRun: 'hold',
  holdAbove: 5,
  holdFloor: 200,
}) as ApprovalSettings;

export function approvalOf(source: Pick<SourceConfig, 'approval'>): ApprovalSettings {
  return { ...DEFAULT_APPROVAL, ...source.approval };
}

export interface SourceLimits {
  maxResponseMB: number;
  maxInflationRatio: number;
  maxEntriesPerPage: number;
  maxPagesPerSearch: number;
  runDeadlineMinutes: number;
}

/** The schema's defaults for `limits` (config.schema.json documents each), for sources built in code. */
export const DEFAULT_LIMITS: SourceLimits = {
  maxResponseMB: 64,
  maxInflationRatio: 100,
  maxEntriesPerPage: 10,
  maxPagesPerSearch: 100_000,
  runDeadlineMinutes: 360,
};

export function sourceLimits(source: Pick<SourceConfig, 'limits'>): SourceLimits {
  return { ...DEFAULT_LIMITS, ...source.limits };
}

/** The schema's defaults for `pull`, for sources built in code (the embedded sandbox, tests). */
export const DEFAULT_PULL: SourceConfig['pull'] = {
  method: 'search',
  bulk: { level: 'system', pollTimeoutSeconds: 3600, parallelDownloads: 2 },
};

export interface ProxySettings {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
}

export interface BulkSettings {
  level: 'system' | 'patient' | 'group';
  groupId?: string;
  typeFilter?: string[];
  pollTimeoutSeconds: number;
  parallelDownloads: number;
}

export interface SourcesFile {
  sources: SourceConfig[];
  mappingsDir?: string;
  indicators?: Partial<Omit<IndicatorSettings, 'weights' | 'tiers'>> & {
    weights?: Partial<IndicatorSettings['weights']>;
    tiers?: Partial<IndicatorSettings['tiers']>;
  };
  actions?: Partial<ActionSettings>;
  safetyAlerts?: Partial<SafetyAlertSettings>;
  sso?: Partial<Omit<SsoSettings, 'session'>> & { session?: Partial<SsoSettings['session']> };
  messaging?: Partial<Omit<MessagingSettings, 'sms' | 'email' | 'surveys'>> & {
    surveys?: Partial<Omit<SurveyPageSettings, 'linkKeys'>> & { linkKeys?: string };
    sms?: Partial<NonNullable<MessagingSettings['sms']>>;
    email?: Partial<NonNullable<MessagingSettings['email']>>;
  };
}

import type { IndicatorSettings } from './indicator-settings';
import type { ProgrammeDefinition } from './programme-settings';
import type { ActionSettings } from './action-settings';
import type { SafetyAlertSettings } from './alert-settings';
import type { Delivery, MessagingSettings, SurveyPageSettings } from './messaging-settings';
import type { SsoSettings } from './sso-settings';

export interface AppConfig {
  indicators: IndicatorSettings;
  actions: ActionSettings;
  /** Path of the sources file that was loaded, if any. */
  configFile?: string;
  sources: SourceConfig[];
  store: StoreSettings;
  logLevel: LogLevel;
  /** Mapping overrides outside the installation (FHIR_ENGAGE_MAPPINGS, or mappingsDir in the sources file). */
  mappingsDir?: string;
  /** FHIR_ENGAGE_KEYS_DIR: signing keys made by `keys generate`, published with the sources' keys. */
  keysDir: string;
  /** The HTTP API of `start` and `serve`: FHIR_ENGAGE_PORT, FHIR_ENGAGE_HOST, FHIR_ENGAGE_API_KEY (comma-separated). */
  service: { port: number; host: string; apiKeys: string[]; auditRetentionDays: number; trustedProxies?: string[] };
  /** FHIR_ENGAGE_AS_OF: the instant runs compute at, unless --as-of says otherwise (default: now). */
  asOf?: Date;
  /** Safety alerts (webhook, email); absent: none configured. */
  safetyAlerts?: SafetyAlertSettings;
  /** Messages to patients (docs/messaging.md); absent: reminders are Tasks only. */
  messaging?: MessagingSettings;
  /** Single sign-on for the dashboard (docs/operations.md); absent: API keys only. */
  sso?: SsoSettings;
}
