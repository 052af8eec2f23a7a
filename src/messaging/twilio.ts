/**
 * SMS through Twilio's Programmable Messaging API (docs/messaging.md), at a configurable base URL (the
 * sandbox serves a stand-in with the same API): create a message (To, MessagingServiceSid or From,
 * Body, StatusCallback), and list the messages to a number since a day (what a crash between the
 * call and storing its answer is reconciled by). A create is never retried here: a timeout may hide
 * a message Twilio made, and only the reconciliation may decide to send again. Callbacks are checked
 * with the `twilio` package's request validation (X-Twilio-Signature).
 */
import { validateRequest } from 'twilio/lib/webhooks/webhooks';
import type { MessagingSettings } from '../config/messaging-settings';
import { HttpError } from '../errors';
import { HttpTransport } from '../fhir/transport';

type SmsSettings = NonNullable<MessagingSettings['sms']>;

/** A provider's answer that settles a send: a 4xx other than 429 (an invalid number, a blocked one) is final. */
export class ProviderRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    text: string,
  ) {
    super(text);
  }
}

export interface ProviderMessage {
  sid: string;
  to: string;
  body: string;
  createdAt: number;
}

interface TwilioMessage {
  sid?: string;
  to?: string;
  body?: string;
  status?: string;
  date_created?: string;
}

const TIMEOUT_MS = 15_000;

export class TwilioClient {
  private readonly http: HttpTransport;
  private readonly base: string;
  private readonly auth: string;

  constructor(private readonly settings: SmsSettings) {
    this.http = new HttpTransport({
      timeoutMs: TIMEOUT_MS,
      maxRetries: 0,
      requestsPerSecond: settings.messagesPerSecond,
      concurrency: 1,
      maxResponseBytes: 1024 * 1024,
    });
    this.base = `${settings.apiBaseUrl}/2010-04-01/Accounts/${encodeURIComponent(settings.accountSid)}/Messages.json`;
    this.auth = `Basic ${Buffer.from(`${settings.accountSid}:${settings.authToken}`).toString('base64')}`;
  }

  /** Creates the message; its SID. Throws ProviderRefused for a final refusal, another error for anything else. */
  async send(to: string, body: string, statusCallback: string): Promise<{ sid: string; status: string }> {
    const form = new URLSearchParams({ To: to, Body: body, StatusCallback: statusCallback });
    if (this.settings.messagingServiceSid) form.set('MessagingServiceSid', this.settings.messagingServiceSid);
    else if (this.settings.from) form.set('From', this.settings.from);
    const res = await this.http
      .send<TwilioMessage & { code?: number; message?: string }>({
        method: 'POST',
        url: this.base,
        headers: {
          authorization: this.auth,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
      })
      .catch((err: unknown) => {
        // In words for the message's reason (the transport's text names the account's URL).
        throw new Error(
          err instanceof HttpError && err.status
            ? `the SMS provider answered ${err.status}`
            : 'the SMS provider did not answer (a timeout or a network error)',
        );
      });
    if (res.status >= 200 && res.status < 300 && res.body?.sid)
      return { sid: res.body.sid, status: res.body.status ?? 'queued' };
    const code = res.body?.code !== undefined ? String(res.body.code) : undefined;
    const what = `the SMS provider answered ${res.status}${code ? ` (error ${code})` : ''}`;
    if (res.status >= 400 && res.status < 500 && res.status !== 429) throw new ProviderRefused(res.status, code, what);
    throw new Error(what);
  }

  /**
   * Messages to `to` created since `since` (the reconciliation after a crash), newest first: the latest
   * page by recipient, filtered here by creation time (a message still queued has no DateSent to filter by).
   */
  async sentTo(to: string, since: Date): Promise<ProviderMessage[]> {
    const url = `${this.base}?${new URLSearchParams({ To: to, PageSize: '50' })}`;
    const res = await this.http.send<{ messages?: TwilioMessage[] }>({
      method: 'GET',
      url,
      headers: { authorization: this.auth, accept: 'application/json' },
    });
    if (res.status !== 200) throw new Error(`listing messages answered ${res.status}`);
    return (res.body?.messages ?? [])
      .filter((m): m is Required<Pick<TwilioMessage, 'sid' | 'to' | 'body' | 'date_created'>> =>
        Boolean(m.sid && m.to && m.body !== undefined && m.date_created),
      )
      .map((m) => ({ sid: m.sid, to: m.to, body: m.body, createdAt: Date.parse(m.date_created) }))
      .filter((m) => m.to === to && m.createdAt >= since.getTime());
  }
}

/** Whether a callback is Twilio's: its X-Twilio-Signature over the public URL and the posted fields. */
export function twilioSignatureValid(
  authToken: string,
  signature: string | undefined,
  url: string,
  params: Record<string, string>,
): boolean {
  return typeof signature === 'string' && signature.length > 0 && validateRequest(authToken, signature, url, params);
}
