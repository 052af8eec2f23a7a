/**
 * What providers and patients send back (docs/messaging.md), outside the staff API and its key: Twilio's
 * status callbacks and inbound SMS (each refused 403 unless its X-Twilio-Signature holds for the public
 * URL fhir-engage is registered at), and the unsubscribe link of an email (signed; GET asks, POST — the
 * link's own button, or a mail client's one-click POST, RFC 8058 — opts the address out). Each only stores
 * an event; the next run applies it.
 */
import express, { type Request, type Response } from 'express';
import type { AppConfig } from '../config/types';
import { addressHash, normalizeAddress } from '../messaging/address';
import { readUnsubscribeToken } from '../messaging/compose';
import { twilioSignatureValid } from '../messaging/twilio';
import type { Store } from '../store/store';

const MAX_BODY = '64kb';
/** An SMS is at most 1600 characters at Twilio. */
const MAX_TEXT = 1600;
const SID = /^[A-Za-z0-9]{10,64}$/;
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

function fields(req: Request): Record<string, string> {
  const body = (req.body ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(body).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Twilio's callback, checked: its fields, or undefined after answering 403/404. */
function signed(req: Request, res: Response, config: AppConfig, path: string): Record<string, string> | undefined {
  const m = config.messaging;
  if (!m?.sms) {
    res.status(404).type('text/plain').send('no SMS provider is configured');
    return undefined;
  }
  const params = fields(req);
  if (!twilioSignatureValid(m.sms.authToken, req.get('x-twilio-signature'), `${m.publicUrl}${path}`, params)) {
    res.status(403).type('text/plain').send('the request signature is not valid');
    return undefined;
  }
  return params;
}

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

function page(res: Response, status: number, title: string, ...paragraphs: string[]): void {
  res
    .status(status)
    .set('Content-Security-Policy', PAGE_CSP)
    .set('Cache-Control', 'no-store')
    .set('Referrer-Policy', 'no-referrer')
    .type('html')
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title></head><body style="font:1.1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem"><h1>${esc(title)}</h1>${paragraphs.join('')}</body></html>`,
    );
}

/** The unsubscribe token of the link, checked: its channel and hash, or undefined after a 404 page. */
function unsubscribeToken(
  req: Request,
  res: Response,
  config: AppConfig,
): { channel: 'sms' | 'email'; hash: string } | undefined {
  const m = config.messaging;
  const token = m ? readUnsubscribeToken(String(req.params.token ?? ''), m.unsubscribeSecret) : undefined;
  if (!token) page(res, 404, 'This link is not valid', '<p>It may have been copied incompletely.</p>');
  return token;
}

export function messagingHooks(store: Store, config: AppConfig): express.Router {
  const r = express.Router();
  // Its own paths only: other form posts (the survey page) parse their bodies under their own limits and pages.
  r.use(['/hooks', '/unsubscribe'], express.urlencoded({ extended: false, limit: MAX_BODY }));

  r.post('/hooks/twilio/status', async (req, res) => {
    const params = signed(req, res, config, '/hooks/twilio/status');
    if (!params) return;
    const sid = params.MessageSid ?? params.SmsSid ?? '';
    const status = (params.MessageStatus ?? params.SmsStatus ?? '').toLowerCase();
    if (!SID.test(sid) || !/^[a-z-]{1,20}$/.test(status))
      return void res.status(400).type('text/plain').send('MessageSid and MessageStatus are required');
    const errorCode = /^\d{1,6}$/.test(params.ErrorCode ?? '') ? (params.ErrorCode as string) : null;
    await store.addMessageEvent({
      kind: 'status',
      eventKey: `twilio:status:${sid}:${status}`,
      providerId: sid,
      status,
      errorCode,
      channel: 'sms',
      addressHash: null,
      address: null,
      body: null,
    });
    res.status(204).end();
  });

  r.post('/hooks/twilio/inbound', async (req, res) => {
    const params = signed(req, res, config, '/hooks/twilio/inbound');
    if (!params) return;
    const sid = params.MessageSid ?? params.SmsSid ?? '';
    const from = normalizeAddress('sms', params.From ?? '');
    if (!SID.test(sid) || !from)
      return void res.status(400).type('text/plain').send('MessageSid and From are required');
    await store.addMessageEvent({
      kind: 'inbound',
      eventKey: `twilio:inbound:${sid}`,
      providerId: sid,
      status: null,
      errorCode: null,
      channel: 'sms',
      addressHash: addressHash('sms', from),
      address: from,
      body: (params.Body ?? '').slice(0, MAX_TEXT),
    });
    // An empty TwiML answer: Twilio sends no automatic reply of ours (HELP is answered by the next run).
    res.status(200).type('text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
  });

  r.get('/unsubscribe/:token', (req, res) => {
    if (!unsubscribeToken(req, res, config)) return;
    page(
      res,
      200,
      `Stop emails from ${config.messaging?.clinic.name ?? 'the clinic'}?`,
      '<p>You will get no more appointment reminders by email. Your appointments are not changed.</p>',
      '<form method="post"><button type="submit" style="font-size:1.1rem;min-height:44px;padding:0 1rem">Stop these emails</button></form>',
    );
  });
  r.post('/unsubscribe/:token', async (req, res) => {
    const token = unsubscribeToken(req, res, config);
    if (!token) return;
    await store.addMessageEvent({
      kind: 'unsubscribe',
      eventKey: `unsubscribe:${token.channel}:${token.hash}:${new Date().toISOString().slice(0, 13)}`,
      providerId: null,
      status: null,
      errorCode: null,
      channel: token.channel,
      addressHash: token.hash,
      address: null,
      body: null,
    });
    page(
      res,
      200,
      'You are unsubscribed',
      `<p>${esc(config.messaging?.clinic.name ?? 'The clinic')} will send you no more reminders by email. To change this, call ${esc(config.messaging?.clinic.phone ?? 'the clinic')}.</p>`,
    );
  });
  return r;
}
