/**
 * The sandbox's stand-in for Twilio's Programmable Messaging API (docs/messaging.md, "Sandbox"): the
 * same paths, form fields and JSON, Basic auth with the sandbox's account SID and token; each message
 * moves queued → sent → delivered (or undelivered, error 30003, at a seeded rate) by status callbacks
 * signed as Twilio signs them (X-Twilio-Signature, the `twilio` package's own signer); a number that
 * replied STOP is refused with Twilio's error 21610. `reply` plays a patient texting back.
 */
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import express from 'express';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks';
import { Random } from './random';

export interface SmsStandInOptions {
  accountSid?: string;
  authToken?: string;
  /** Fraction (0–1) of messages that end undelivered. */
  failureRate?: number;
  seed?: number;
  /** Where a patient's reply is posted (fhir-engage's inbound webhook). */
  inboundUrl?: string;
  /** The sending number. */
  from?: string;
  /** Milliseconds between a message's status callbacks. */
  callbackDelayMs?: number;
}

export interface StandInMessage {
  sid: string;
  to: string;
  from: string;
  body: string;
  status: string;
  errorCode: string | null;
  createdAt: Date;
  statusCallback: string | null;
}

export const SANDBOX_ACCOUNT_SID = 'ACsandbox0000000000000000000000000';
export const SANDBOX_AUTH_TOKEN = 'sandbox-auth-token-not-a-secret';

/** A callback nobody answers is tried again every CALLBACK_RETRY_MS, CALLBACK_TRIES times (an hour). */
const CALLBACK_RETRY_MS = 5_000;
const CALLBACK_TRIES = 720;

const OPT_OUT = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT'];

const rfc2822 = (d: Date): string => d.toUTCString().replace('GMT', '+0000');

export class SmsStandIn {
  readonly messages: StandInMessage[] = [];
  readonly accountSid: string;
  readonly authToken: string;
  private readonly optedOut = new Set<string>();
  private readonly random: Random;
  private readonly pending = new Set<Promise<void>>();
  /** Callbacks that reached fhir-engage, and those it refused or that failed. */
  readonly callbacks = { delivered: 0, refused: 0 };

  constructor(private readonly options: SmsStandInOptions = {}) {
    this.accountSid = options.accountSid ?? SANDBOX_ACCOUNT_SID;
    this.authToken = options.authToken ?? SANDBOX_AUTH_TOKEN;
    this.random = new Random(options.seed ?? 7);
  }

  private failing = 0;

  /** The next `n` messages end undelivered (tests). */
  failNext(n: number): void {
    this.failing = n;
  }

  private refusing: { n: number; status: 400 | 503 } = { n: 0, status: 503 };

  /** The next `n` creates are answered `status` (503: an outage; 400: Twilio's 21211, an invalid number) (tests). */
  refuseNext(n: number, status: 400 | 503): void {
    this.refusing = { n, status };
  }

  set inboundUrl(url: string) {
    this.options.inboundUrl = url;
  }

  /**
   * Posts `params` to `url` signed as Twilio does. A callback nobody answers (fhir-engage's API not up
   * yet, as while `npm start` simulates its first days) is tried again every few seconds for a while.
   */
  private async post(url: string, params: Record<string, string>, tries = CALLBACK_TRIES): Promise<number> {
    const signature = getExpectedTwilioSignature(this.authToken, url, params);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body: new URLSearchParams(params).toString(),
    }).catch(() => undefined);
    await res?.arrayBuffer().catch(() => undefined);
    if (!res && tries > 1) {
      const retry = setTimeout(() => void this.post(url, params, tries - 1), CALLBACK_RETRY_MS);
      retry.unref();
      return 0;
    }
    if (res && res.status < 300) this.callbacks.delivered++;
    else this.callbacks.refused++;
    return res?.status ?? 0;
  }

  private later(fn: () => Promise<void>): void {
    const p = new Promise<void>((r) => setTimeout(r, this.options.callbackDelayMs ?? 20))
      .then(fn)
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Waits until every status callback sent so far has been answered. */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private advance(m: StandInMessage): void {
    if (!m.statusCallback) return;
    const url = m.statusCallback;
    const fields = (status: string, errorCode?: string): Record<string, string> => ({
      MessageSid: m.sid,
      SmsSid: m.sid,
      AccountSid: this.accountSid,
      From: m.from,
      To: m.to,
      MessageStatus: status,
      SmsStatus: status,
      ...(errorCode ? { ErrorCode: errorCode } : {}),
    });
    const forced = this.failing > 0;
    if (forced) this.failing--;
    const fails = forced || this.random.chance(this.options.failureRate ?? 0);
    this.later(async () => {
      m.status = 'sent';
      await this.post(url, fields('sent'));
      this.later(async () => {
        m.status = fails ? 'undelivered' : 'delivered';
        m.errorCode = fails ? '30003' : null;
        await this.post(url, fields(m.status, m.errorCode ?? undefined));
      });
    });
  }

  /** A patient texts the clinic's number: STOP is also remembered here, as Twilio does. */
  async reply(from: string, body: string): Promise<number> {
    if (OPT_OUT.includes(body.trim().toUpperCase())) this.optedOut.add(from);
    if (['START', 'UNSTOP', 'YES'].includes(body.trim().toUpperCase())) this.optedOut.delete(from);
    if (!this.options.inboundUrl) return 0;
    return this.post(this.options.inboundUrl, {
      MessageSid: `SM${randomBytes(16).toString('hex')}`,
      AccountSid: this.accountSid,
      From: from,
      To: this.options.from ?? '+15550000000',
      Body: body,
    });
  }

  private authorised(req: Request, res: Response): boolean {
    const expected = `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`;
    if (req.params.sid === this.accountSid && req.get('authorization') === expected) return true;
    res.status(401).json({
      code: 20003,
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
    });
    return false;
  }

  private create(req: Request, res: Response): void {
    if (!this.authorised(req, res)) return;
    if (this.refusing.n > 0) {
      this.refusing.n--;
      const status = this.refusing.status;
      return void res
        .status(status)
        .json(
          status === 400
            ? { code: 21211, message: "The 'To' number is not a valid phone number.", status }
            : { code: 20500, message: 'Internal Server Error', status },
        );
    }
    const b = (req.body ?? {}) as Record<string, string | undefined>;
    const to = b.To ?? '';
    const error = (code: number, message: string): void =>
      void res
        .status(400)
        .json({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status: 400 });
    if (!/^\+[1-9]\d{6,14}$/.test(to)) return error(21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!b.Body) return error(21602, 'Message body is required.');
    if (!b.From && !b.MessagingServiceSid)
      return error(21603, "A 'From' or 'MessagingServiceSid' parameter is required.");
    if (this.optedOut.has(to)) return error(21610, 'Attempt to send to unsubscribed recipient');
    const m: StandInMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      to,
      from: b.From ?? this.options.from ?? '+15550000000',
      body: b.Body,
      status: 'queued',
      errorCode: null,
      createdAt: new Date(),
      statusCallback: b.StatusCallback ?? null,
    };
    this.messages.push(m);
    res.status(201).json(this.json(m));
    this.advance(m);
  }

  private json(m: StandInMessage) {
    return {
      sid: m.sid,
      account_sid: this.accountSid,
      to: m.to,
      from: m.from,
      body: m.body,
      status: m.status,
      error_code: m.errorCode ? Number(m.errorCode) : null,
      date_created: rfc2822(m.createdAt),
      direction: 'outbound-api',
    };
  }

  private list(req: Request, res: Response): void {
    if (!this.authorised(req, res)) return;
    const to = typeof req.query.To === 'string' ? req.query.To : undefined;
    const size = Math.min(1000, Number(req.query.PageSize ?? 50) || 50);
    const found = this.messages
      .filter((m) => !to || m.to === to)
      .reverse()
      .slice(0, size);
    res.json({ messages: found.map((m) => this.json(m)), page: 0, page_size: size });
  }

  /** The API's routes, under /twilio (the account's Messages resource). */
  router(): express.Router {
    const r = express.Router();
    const path = '/twilio/2010-04-01/Accounts/:sid/Messages.json';
    r.post(path, express.urlencoded({ extended: false, limit: '64kb' }), (req, res) => this.create(req, res));
    r.get(path, (req, res) => this.list(req, res));
    return r;
  }
}
