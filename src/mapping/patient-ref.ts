/**
 * Which patient a reference names, in every form FHIR R4 allows
 * (https://hl7.org/fhir/R4/references.html):
 * - relative `Patient/123`, versioned `Patient/123/_history/2`;
 * - absolute `https://emr.example/fhir/Patient/123` on the source's own server
 *   (a patient on another server is not one of the source's);
 * - `urn:uuid:…` naming an entry of the Bundle the resource came in;
 * - `#p1`, a contained Patient, found through its identifiers;
 * - logical: `Reference.identifier` with no `reference`, found through the
 *   identifiers of the Patients the source returned.
 * Pure: the context carries what the caller knows.
 */
import type { Identifier, Reference, Resource } from '@medplum/fhirtypes';

export interface PatientRefContext {
  /** The source's FHIR base URL: absolute references under it are local. Unknown: any absolute Patient URL is accepted. */
  baseUrl?: string;
  /** fullUrl → `Type/id` of the entries of the Bundle the resource arrived in. */
  fullUrls?: ReadonlyMap<string, string>;
  /** Patient id for `system|value`, 'ambiguous' when two patients share it, undefined when none has it. */
  patientByIdentifier?: (key: string) => string | 'ambiguous' | undefined;
}

export type PatientResolution = { id: string } | { reason: string };

const ID = '[A-Za-z0-9\\-.]{1,64}';
const RELATIVE = new RegExp(`^Patient/(${ID})(?:/_history/[^/]+)?$`);
const ABSOLUTE = new RegExp(`^(https?://.+?)/Patient/(${ID})(?:/_history/[^/]+)?$`);
const OTHER_TYPE = /^([A-Z][A-Za-z]+)\/[^/]+/;

/** Host and path without scheme, default port or trailing slash: how two spellings of one base URL compare. */
function comparableBase(url: string): string {
  try {
    const u = new URL(url);
    const port = u.port && u.port !== '80' && u.port !== '443' ? `:${u.port}` : '';
    return `${u.hostname.toLowerCase()}${port}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return url.replace(/\/+$/, '');
  }
}

/** `system|value` keys of identifiers (value required); the value itself is never put in a message. */
export function identifierKeys(identifiers: Identifier[] | undefined): string[] {
  return (identifiers ?? [])
    .filter((i) => typeof i.value === 'string' && i.value !== '')
    .map((i) => `${i.system ?? ''}|${i.value}`);
}

function byIdentifiers(identifiers: Identifier[] | undefined, ctx: PatientRefContext, what: string): PatientResolution {
  const keys = identifierKeys(identifiers);
  if (keys.length === 0) return { reason: `${what} carries no identifier value to find the patient by` };
  if (!ctx.patientByIdentifier)
    return { reason: `${what} names the patient by identifier only, and no patients are known to resolve it` };
  let ambiguous = false;
  for (const key of keys) {
    const found = ctx.patientByIdentifier(key);
    if (found === 'ambiguous') ambiguous = true;
    else if (found) return { id: found };
  }
  const systems = [...new Set((identifiers ?? []).map((i) => i.system ?? '(no system)'))].join(', ');
  return {
    reason: ambiguous
      ? `${what}: its identifier (system ${systems}) belongs to more than one patient`
      : `${what}: no patient of the source has its identifier (system ${systems})`,
  };
}

function fromUrl(raw: string, ctx: PatientRefContext): PatientResolution | undefined {
  // URL schemes are case-insensitive (RFC 3986).
  const url = raw.replace(/^[A-Za-z][A-Za-z0-9+.-]*:/, (scheme) => scheme.toLowerCase());
  const rel = RELATIVE.exec(url);
  if (rel) return { id: rel[1] as string };
  const abs = ABSOLUTE.exec(url);
  if (abs) {
    if (ctx.baseUrl && comparableBase(abs[1] as string) !== comparableBase(ctx.baseUrl))
      return { reason: 'the reference names a patient on another server' };
    return { id: abs[2] as string };
  }
  return undefined;
}

/** Resolves one reference (a Reference, or a reference string) found in `resource`. */
export function resolvePatientReference(
  ref: Reference | string | undefined,
  resource: Resource,
  ctx: PatientRefContext = {},
): PatientResolution {
  const r: Reference = typeof ref === 'string' ? { reference: ref } : (ref ?? {});
  const url = r.reference;
  if (url) {
    const direct = fromUrl(url, ctx);
    if (direct) return direct;
    if (url.startsWith('#')) {
      const contained = ((resource as { contained?: Resource[] }).contained ?? []).find((c) => c.id === url.slice(1));
      if (!contained) return { reason: `the reference ${url} names no contained resource` };
      if (contained.resourceType !== 'Patient')
        return { reason: `the contained resource ${url} is a ${contained.resourceType}, not a Patient` };
      return byIdentifiers(contained.identifier, ctx, `the contained Patient ${url}`);
    }
    if (url.startsWith('urn:uuid:') || url.startsWith('urn:oid:')) {
      const target = ctx.fullUrls?.get(url);
      if (!target) return { reason: 'the urn: reference names no entry of the Bundle it came in' };
      return fromUrl(target, ctx) ?? { reason: `the urn: reference names a ${target.split('/')[0]}, not a Patient` };
    }
    const other = OTHER_TYPE.exec(url.replace(/^https?:\/\/.+?\/(?=[A-Z][A-Za-z]+\/)/, ''));
    if (other && other[1] !== 'Patient') return { reason: `the reference names a ${other[1]}, not a Patient` };
    return {
      reason:
        'the reference is not a Patient reference FHIR defines (Patient/<id>, an absolute URL, urn:uuid or #contained)',
    };
  }
  if (r.type && r.type !== 'Patient') return { reason: `the logical reference names a ${r.type}, not a Patient` };
  if (r.identifier) return byIdentifiers([r.identifier], ctx, 'the logical reference');
  return { reason: r.display ? 'the reference has only a display text' : 'no patient reference' };
}

/**
 * The patient of a resource from candidate references (e.g. every
 * Appointment.participant.actor): the first that resolves to a patient wins;
 * otherwise the reason of the first candidate that looked like a patient.
 */
export function resolveFirstPatient(
  candidates: (Reference | string | undefined)[],
  resource: Resource,
  ctx: PatientRefContext = {},
): PatientResolution {
  let firstReason: string | undefined;
  let patientReason: string | undefined;
  for (const c of candidates) {
    const res = resolvePatientReference(c, resource, ctx);
    if ('id' in res) return res;
    firstReason ??= res.reason;
    if (!/not a Patient$/.test(res.reason)) patientReason ??= res.reason;
  }
  return { reason: patientReason ?? firstReason ?? 'no patient reference' };
}

/** Patients by `system|value` of their identifiers, for logical references and contained patients. */
export function patientIdentifierIndex(
  patients: { id: string; identifier?: Identifier[] }[],
): (key: string) => string | 'ambiguous' | undefined {
  const index = new Map<string, string>();
  for (const p of patients) {
    for (const key of identifierKeys(p.identifier)) {
      const seen = index.get(key);
      index.set(key, seen === undefined || seen === p.id ? p.id : 'ambiguous');
    }
  }
  return (key) => index.get(key);
}
