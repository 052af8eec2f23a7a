/**
 * What counts as "the same content" when deciding whether to write: the
 * fields fhir-engage sets, minus those that move with every run (when it was
 * computed) and those the server owns (id, meta, narrative).
 */
import { contentHash } from '../store/content-hash';

const VOLATILE = new Set(['id', 'meta', 'text', 'effectiveDateTime', 'authoredOn', 'issued', 'lastModified']);

/** The fields of `resource` that a comparison looks at; with `like`, only the keys `like` has. */
export function comparable(resource: Record<string, unknown>, like?: Record<string, unknown>): Record<string, unknown> {
  const keys = Object.keys(like ?? resource).filter((k) => !VOLATILE.has(k));
  return Object.fromEntries(keys.filter((k) => resource[k] !== undefined).map((k) => [k, resource[k]]));
}

export function comparableHash(resource: Record<string, unknown>, like?: Record<string, unknown>): string {
  return contentHash(comparable(resource, like));
}
