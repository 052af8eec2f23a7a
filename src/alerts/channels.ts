/**
 * The channels a safety alert goes out by: a webhook (JSON POSTed through the one HTTP transport,
 * signed with HMAC-SHA256 when a secret is set) and email over SMTP (nodemailer; STARTTLS required
 * unless the settings say otherwise). Each throws on failure with what went wrong, never the message.
 */
import { createHmac } from 'node:crypto';
import type { SafetyAlertSettings } from '../config/alert-settings';
import { HttpTransport } from '../fhir/transport';
import { smtpTransport } from '../messaging/smtp';
import { alertEmail, type AlertMessage } from './message';

export interface AlertSender {
  webhook(m: AlertMessage): Promise<void>;
  email(m: AlertMessage): Promise<void>;
  close(): void;
}

const WEBHOOK_TIMEOUT_MS = 10_000;

export function alertSender(settings: SafetyAlertSettings): AlertSender {
  const http = new HttpTransport({
    timeoutMs: WEBHOOK_TIMEOUT_MS,
    maxRetries: 1,
    requestsPerSecond: 5,
    concurrency: 1,
    maxResponseBytes: 64 * 1024,
  });
  const smtp = settings.email?.smtp;
  const mailer = smtp ? smtpTransport(smtp, WEBHOOK_TIMEOUT_MS) : undefined;
  return {
    async webhook(m) {
      const hook = settings.webhook;
      if (!hook) throw new Error('no webhook is configured');
      const body = JSON.stringify(m);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (hook.secret)
        headers['x-fhir-engage-signature'] = `sha256=${createHmac('sha256', hook.secret).update(body).digest('hex')}`;
      const res = await http.send({ method: 'POST', url: hook.url, headers, body, json: false });
      if (res.status < 200 || res.status >= 300) throw new Error(`the webhook answered ${res.status}`);
    },
    async email(m) {
      if (!mailer || !settings.email) throw new Error('no email is configured');
      const { subject, text } = alertEmail(m);
      await mailer.sendMail({ from: settings.email.from, to: settings.email.to, subject, text });
    },
    close() {
      mailer?.close();
    },
  };
}
