/**
 * Survey links (docs/surveys.md, "The link"): `<publicUrl>/s/<linkId>.<keyId>.<mac>`. The link id is
 * random (128 bits) and names a stored row; the MAC (HMAC-SHA256 under a key of configuration, 128 bits
 * kept) covers the row's binding — source, patient, Task, expiry — so a link is good only for the
 * patient and Task it was made for, until it expires, and a row changed in the store fails too. No
 * patient data is in the URL. Two keys may be live: the first signs, every one verifies (rotation).
 * Pure: keys and rows are given.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { LinkKey } from '../config/messaging-settings';

export type { LinkKey };

/** What a link is good for: the stored row it names. */
export interface LinkBinding {
  linkId: string;
  sourceId: string;
  patientId: string;
  taskIdentifier: string;
  expiresAt: Date;
}

/** The binding of a stored link row. */
export const bindingOf = (l: {
  id: string;
  sourceId: string;
  patientId: string;
  taskIdentifier: string;
  expiresAt: Date;
}): LinkBinding => ({
  linkId: l.id,
  sourceId: l.sourceId,
  patientId: l.patientId,
  taskIdentifier: l.taskIdentifier,
  expiresAt: l.expiresAt,
});

const TOKEN = /^([A-Za-z0-9_-]{22})\.([a-z0-9]{1,8})\.([A-Za-z0-9_-]{22})$/;

/** A new link id: 16 random bytes, base64url (22 characters). */
export const newLinkId = (): string => randomBytes(16).toString('base64url');

function mac(b: LinkBinding, secret: string): string {
  const text = [b.linkId, b.sourceId, b.patientId, b.taskIdentifier, b.expiresAt.toISOString()].join('\n');
  return createHmac('sha256', secret).update(text).digest('base64url').slice(0, 22);
}

/** The token of a link, signed by the first key. */
export function signLink(b: LinkBinding, keys: readonly LinkKey[]): string {
  const key = keys[0];
  if (!key) throw new Error('no survey link key');
  return `${b.linkId}.${key.id}.${mac(b, key.secret)}`;
}

/** The link id a token names, when it has a token's shape (nothing is trusted yet). */
export function linkIdOf(token: string): string | undefined {
  return TOKEN.exec(token)?.[1];
}

/** Whether the token was signed for this binding by a live key (constant-time comparison). */
export function verifyLink(token: string, b: LinkBinding, keys: readonly LinkKey[]): boolean {
  const m = TOKEN.exec(token);
  if (!m || m[1] !== b.linkId) return false;
  const key = keys.find((k) => k.id === m[2]);
  if (!key) return false;
  const want = Buffer.from(mac(b, key.secret));
  const got = Buffer.from(m[3] as string);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The proof, carried with the answers, that the birth date was confirmed for this link (docs/surveys.md). */
export function birthDateProof(linkId: string, keys: readonly LinkKey[]): string {
  const key = keys[0];
  if (!key) throw new Error('no survey link key');
  return `${key.id}.${createHmac('sha256', key.secret).update(`${linkId}\nbirth-date-confirmed`).digest('base64url').slice(0, 22)}`;
}

export function birthDateProven(proof: string | undefined, linkId: string, keys: readonly LinkKey[]): boolean {
  const [keyId, mac] = (proof ?? '').split('.');
  const key = keys.find((k) => k.id === keyId);
  if (!key || !mac) return false;
  const want = Buffer.from(birthDateProof(linkId, [key]).split('.')[1] as string);
  const got = Buffer.from(mac);
  return want.length === got.length && timingSafeEqual(want, got);
}
