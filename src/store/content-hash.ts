import { createHash } from 'node:crypto';

// Keys that JSON.stringify would print unchanged between quotes (every FHIR element name).
const PLAIN_KEY = /^[A-Za-z0-9_$-]*$/;

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Appends the canonical form of `value` to `out`. Hashing every pulled
 * resource makes this one of a sync's hottest functions: the pieces are
 * joined once, and keys are sorted only when they are not sorted already.
 */
function writeCanonical(value: unknown, out: string[]): void {
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      writeCanonical(value[i], out);
    }
    out.push(']');
    return;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    let keys = Object.keys(obj);
    for (let i = 1; i < keys.length; i++) {
      if (compareKeys(keys[i - 1] as string, keys[i] as string) > 0) {
        keys = [...keys].sort(compareKeys);
        break;
      }
    }
    out.push('{');
    let first = true;
    for (const k of keys) {
      const v = obj[k];
      if (v === undefined) continue;
      out.push(first ? '' : ',', PLAIN_KEY.test(k) ? `"${k}":` : `${JSON.stringify(k)}:`);
      first = false;
      writeCanonical(v, out);
    }
    out.push('}');
    return;
  }
  out.push(JSON.stringify(value) ?? 'null');
}

/** JSON with object keys sorted, so equal content always serialises the same way. */
export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  writeCanonical(value, out);
  return out.join('');
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function contentHash(value: unknown): string {
  return sha256(canonicalJson(value));
}

/**
 * Hash of a resource's content. meta.versionId and meta.lastUpdated are left
 * out: some servers write a new version on every update, even when nothing
 * changed, and that must not count as a change.
 */
export function resourceContentHash(resource: object): string {
  const { meta, ...rest } = resource as { meta?: Record<string, unknown> };
  if (!meta) {
    return contentHash(rest);
  }
  const { versionId: _v, lastUpdated: _l, ...metaRest } = meta;
  return contentHash(Object.keys(metaRest).length > 0 ? { ...rest, meta: metaRest } : rest);
}
