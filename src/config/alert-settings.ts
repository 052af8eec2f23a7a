/**
 * Safety alerts (docs/operations.md, "Safety alerts"): where fhir-engage says at once that a run
 * opened a safety Task. Every option is described once, in config.schema.json's `safetyAlerts`.
 */
export interface SafetyAlertSettings {
  dashboardUrl?: string;
  /** Minutes after which an unacknowledged alert is sent again; 0 never. */
  resendAfterMinutes: number;
  webhook?: { url: string; secret?: string };
  email?: { to: string[]; from: string; smtp: SmtpSettings };
}

/** An SMTP server (safety alerts, messages to patients): STARTTLS required unless `tls` says otherwise. */
export interface SmtpSettings {
  host: string;
  port?: number;
  tls?: 'starttls' | 'implicit' | 'off';
  user?: string;
  password?: string;
}

export const DEFAULT_RESEND_AFTER_MINUTES = 60;

export type AlertChannel = 'webhook' | 'email';

/** The channels configured, in the order they are tried. */
export const alertChannels = (s: SafetyAlertSettings | undefined): AlertChannel[] => [
  ...(s?.webhook ? (['webhook'] as const) : []),
  ...(s?.email ? (['email'] as const) : []),
];
