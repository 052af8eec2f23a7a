/**
 * The one way fhir-engage speaks SMTP (safety alerts, messages to patients): nodemailer, STARTTLS
 * required unless the settings say `implicit` (TLS from the start) or `off` (a relay on the same host).
 */
import nodemailer, { type Transporter } from 'nodemailer';
import type { SmtpSettings } from '../config/alert-settings';

export function smtpTransport(smtp: SmtpSettings, timeoutMs: number): Transporter {
  return nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port ?? (smtp.tls === 'implicit' ? 465 : 587),
    secure: smtp.tls === 'implicit',
    requireTLS: (smtp.tls ?? 'starttls') === 'starttls',
    ignoreTLS: smtp.tls === 'off',
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    ...(smtp.user ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
  });
}

/** An SMTP answer that settles a send: a 5xx for the recipient (no such mailbox) is final; anything else may pass. */
export function smtpRefusedForGood(err: unknown): boolean {
  const code = (err as { responseCode?: number }).responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}
