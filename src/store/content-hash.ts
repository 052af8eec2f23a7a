import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so equal content always serialises the same way. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
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
