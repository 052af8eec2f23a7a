/**
 * Reads resources from local files for `fhir-engage validate`: a JSON
 * resource, a Bundle (each entry), NDJSON (one resource a line), or a
 * directory of those. Each resource comes with where it was found.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface LocatedResource {
  /** file, file:line (NDJSON) or file#entry[n] (Bundle). */
  where: string;
  resource?: unknown;
  /** Set when the text could not be read as JSON. */
  parseError?: string;
  /** The Bundle entry's fullUrl (what urn:uuid references inside the Bundle name). */
  fullUrl?: string;
}

function* fromJsonText(file: string, text: string): Generator<LocatedResource> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    yield { where: file, parseError: `not valid JSON: ${(err as Error).message}` };
    return;
  }
  const bundle = json as { resourceType?: string; entry?: { resource?: unknown; fullUrl?: string }[] };
  if (bundle?.resourceType === 'Bundle' && Array.isArray(bundle.entry)) {
    yield* bundle.entry.map((e, i) => ({ where: `${file}#entry[${i}]`, resource: e.resource, ...(typeof e.fullUrl === 'string' ? { fullUrl: e.fullUrl } : {}) }));
    return;
  }
  yield { where: file, resource: json };
}

function* fromNdjson(file: string, text: string): Generator<LocatedResource> {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (!line) continue;
    try {
      yield { where: `${file}:${i + 1}`, resource: JSON.parse(line) };
    } catch (err) {
      yield { where: `${file}:${i + 1}`, parseError: `not valid JSON: ${(err as Error).message}` };
    }
  }
}

function listFiles(target: string): string[] {
  const st = statSync(target);
  if (!st.isDirectory()) return [target];
  return readdirSync(target)
    .sort()
    .flatMap((name) => {
      const full = path.join(target, name);
      if (statSync(full).isDirectory()) return listFiles(full);
      return /\.(json|ndjson|jsonl)$/i.test(name) ? [full] : [];
    });
}

/** Every resource in a file or directory, in a stable order. */
export function* readResources(target: string): Generator<LocatedResource> {
  for (const file of listFiles(target)) {
    const text = readFileSync(file, 'utf8');
    yield* /\.(ndjson|jsonl)$/i.test(file) ? fromNdjson(file, text) : fromJsonText(file, text);
  }
}
