/**
 * A patient's address on a channel, as fhir-engage sends to it and remembers a consent by: an SMS
 * number in E.164 (+ and digits; a national number takes the configured country code), an email
 * address in lower case; and its hash, which is all an opt-out keeps. Pure, but for patientOptOuts (it
 * asks the store).
 */
import { createHash } from 'node:crypto';
import type { ContactPoint, Patient, Resource } from '@medplum/fhirtypes';
import type { EngagementModel } from '../mapping/model';

export type Channel = 'sms' | 'email';

/** The address in the form a provider takes, or undefined when it cannot be one. */
export function normalizeAddress(channel: Channel, value: string, countryCode?: string): string | undefined {
  const v = value.trim();
  if (channel === 'email') return /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v) ? v.toLowerCase() : undefined;
  const digits = v.replace(/[\s().-]/g, '');
  const e164 = digits.startsWith('+') ? digits : countryCode ? `${countryCode}${digits.replace(/^0+/, '')}` : undefined;
  return e164 && /^\+[1-9]\d{6,14}$/.test(e164) ? e164 : undefined;
}

/** What an opt-out is kept by: the address's SHA-256, never the address. */
export const addressHash = (channel: Channel, normalized: string): string =>
  createHash('sha256').update(`${channel}:${normalized}`).digest('hex');

/**
 * The patient's address for a channel: among contact points in use (no period end passed), the
 * ranked first, else the first; SMS takes an `sms` point or a mobile `phone`.
 */
export function addressFor(telecom: ContactPoint[] | undefined, channel: Channel, now: Date): string | undefined {
  const live = (telecom ?? []).filter(
    (c) =>
      c.value &&
      (!c.period?.end || Date.parse(c.period.end) > now.getTime()) &&
      (channel === 'email' ? c.system === 'email' : c.system === 'sms' || (c.system === 'phone' && c.use === 'mobile')),
  );
  live.sort((a, b) => (a.rank ?? Number.MAX_SAFE_INTEGER) - (b.rank ?? Number.MAX_SAFE_INTEGER));
  return live[0]?.value;
}

/** The (channel, hash) keys of a Patient's addresses: `sms|…` for mobile and SMS numbers, `email|…`. */
function consentKeys(patient: Patient, countryCode: string | undefined): { channel: Channel; key: string }[] {
  const out: { channel: Channel; key: string }[] = [];
  for (const c of patient.telecom ?? []) {
    if (!c.value) continue;
    const channel: Channel | undefined =
      c.system === 'email'
        ? 'email'
        : c.system === 'sms' || (c.system === 'phone' && c.use === 'mobile')
          ? 'sms'
          : undefined;
    const form = channel && normalizeAddress(channel, c.value, countryCode);
    if (channel && form) out.push({ channel, key: `${channel}|${addressHash(channel, form)}` });
  }
  return out;
}
/** The address hashes of one Patient (its opt-outs are looked up by them). */
export const addressHashesOf = (patient: Patient | undefined, countryCode: string | undefined): string[] =>
  patient ? consentKeys(patient, countryCode).map((k) => k.key.split('|')[1] as string) : [];

/** Every address hash of the Patients among `resources` (per patient), for one opt-out query per batch. */
export function patientAddressHashes(
  resources: Map<string, Record<string, unknown>[]>,
  countryCode: string | undefined,
): string[] {
  const hashes = new Set<string>();
  for (const list of resources.values())
    for (const r of list)
      if (r.resourceType === 'Patient')
        for (const k of consentKeys(r as unknown as Patient, countryCode)) hashes.add(k.key.split('|')[1] as string);
  return [...hashes];
}

/** The channels the patient opted out of, on the model (kinds only): the reminder rule chooses another. */
export function withConsent(
  model: EngagementModel,
  own: Resource[],
  optedOut: ReadonlyMap<string, Date>,
  countryCode: string | undefined,
): void {
  const channels = new Set<Channel>();
  for (const r of own)
    if (r.resourceType === 'Patient')
      for (const k of consentKeys(r, countryCode)) if (optedOut.has(k.key)) channels.add(k.channel);
  if (channels.size) model.patient.optedOut = [...channels].sort();
}

/** The channels a patient opted out of and since when (their page): each address of theirs looked up by hash. */
export async function patientOptOuts(
  store: { optedOut(hashes: string[]): Promise<Map<string, Date>> },
  patient: Patient,
  countryCode: string | undefined,
): Promise<{ channel: Channel; since: Date }[]> {
  const keys = consentKeys(patient, countryCode);
  const found = await store.optedOut(keys.map((k) => k.key.split('|')[1] as string));
  const out = new Map<Channel, Date>();
  for (const k of keys) {
    const since = found.get(k.key);
    if (since && !out.has(k.channel)) out.set(k.channel, since);
  }
  return [...out].map(([channel, since]) => ({ channel, since }));
}
