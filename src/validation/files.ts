/**
 * Reads resources from local files for `fhir-engage validate`: a JSON
 * resource, a Bundle (each entry), NDJSON (one resource a line), or a
 * directory of those. Each resource comes with where it was found.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { decodeUtf8 } from '../text-file';
import { parseJsonText } from './json-text';

export interface LocatedResource {
  /** file, file:line (NDJSON) or file#entry[n] (Bundle). */
  where: string;
  resource?: unknown;
  /** Set when the text could not be read as JSON (or is not UTF-8). */
  parseError?: string;
  /** Keys given twice in one object (JSON.parse keeps the last): reported as warnings. */
  duplicateKeys?: string[];
  /** The Bundle entry's fullUrl (what urn:uuid references inside the Bundle name). */
  fullUrl?: string;
}

function* fromJsonText(file: string, text: string): Generator<LocatedResource> {
  const parsed = parseJsonText(text);
  if (!parsed.ok) {
    yield { where: file, parseError: parsed.error };
    return;
  }
  const json = parsed.value;
  const duplicates = parsed.duplicateKeys.length ? { duplicateKeys: parsed.duplicateKeys } : {};
  const bundle = json as { resourceType?: string; entry?: { resource?: unknown; fullUrl?: string }[] };
  if (bundle?.resourceType === 'Bundle' && Array.isArray(bundle.entry)) {
    yield* bundle.entry.map((e, i) => ({
      where: `${file}#entry[${i}]`,
      resource: e.resource,
      ...(typeof e.fullUrl === 'string' ? { fullUrl: e.fullUrl } : {}),
      ...(i === 0 ? duplicates : {}),
    }));
    return;
  }
  yield { where: file, resource: json, ...duplicates };
}

function* fromNdjson(file: string, text: string): Generator<LocatedResource> {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (!line) continue;
    const parsed = parseJsonText(line);
    yield parsed.ok
      ? {
          where: `${file}:${i + 1}`,
          resource: parsed.value,
          ...(parsed.duplicateKeys.length ? { duplicateKeys: parsed.duplicateKeys } : {}),
        }
      : { where: `${file}:${i + 1}`, parseError: parsed.error };
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
    let text: string;
    try {
      text = decodeUtf8(readFileSync(file), file);
    } catch (err) {
      yield { where: file, parseError: (err as Error).message.replace(`${file}:`, 'line ') };
      continue;
    }
    yield* /\.(ndjson|jsonl)$/i.test(file) ? fromNdjson(file, text) : fromJsonText(file, text);
  }
}
