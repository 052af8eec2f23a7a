/**
 * Reading the text files people write and hand to fhir-engage (the sources file, mappings,
 * questionnaire scoring, local FHIR JSON): bounded in size, UTF-8 checked with the byte offset of
 * the first bad byte, a byte-order mark accepted, and YAML parsed with its line numbers and with
 * alias expansion bounded. Messages name the file and place, never quote its contents (they may
 * hold patient data or secrets).
 */
import { readFileSync, statSync } from 'node:fs';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { configError, configErrors, EngageError } from './errors';

/** Configuration files (sources, mappings, questionnaires) are small: anything larger is a mistake. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

function megabytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/** The byte offset of the first byte that is not well-formed UTF-8, or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    // Lead byte → sequence length and the allowed range of the second byte (no overlongs, no surrogates, ≤ U+10FFFF).
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 3;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 4;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k < n; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return i;
    }
    i += n;
  }
  return -1;
}

/** UTF-8 bytes to text: a byte-order mark dropped, anything else that is not UTF-8 refused with its offset. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    const line = bytes.subarray(0, bad).reduce((n, b) => (b === 0x0a ? n + 1 : n), 1);
    throw configError(`${file}:${line}: not UTF-8 (byte offset ${bad}); save the file as UTF-8`);
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  // Editors on Windows save UTF-8 with a byte-order mark: it is not part of the content.
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Reads `file` as UTF-8 text, refusing files over `maxBytes` before reading them. */
export function readTextFile(file: string, what: string, maxBytes = MAX_CONFIG_FILE_BYTES): string {
  let bytes: Buffer;
  try {
    const size = statSync(file).size;
    if (size > maxBytes)
      throw configError(
        `${what} ${file} is ${megabytes(size)}; the limit is ${megabytes(maxBytes)} (is it the right file?)`,
      );
    bytes = readFileSync(file);
  } catch (err) {
    if (err instanceof EngageError) throw err;
    throw configError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, undefined, err);
  }
  return decodeUtf8(bytes, file);
}

export interface ParsedYaml {
  doc: Document;
  lines: LineCounter;
  data: unknown;
}

/**
 * YAML (or JSON) text to data. Duplicate keys are errors; an alias bomb (a few lines expanding to
 * billions of nodes) is refused by the parser's alias budget, named as such.
 */
export function parseYamlText(text: string, file: string, kind = 'YAML'): ParsedYaml {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw configErrors(
      doc.errors.map((e) => {
        const line = e.linePos?.[0]?.line;
        return { text: `${line ? `${file}:${line}` : file}: not valid ${kind}: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    // yaml throws a ReferenceError for excessive aliasing and for an alias to a missing anchor.
    const excessive = /excessive alias/i.test((err as Error).message);
    throw configError(
      `${file}: ${excessive ? 'too many YAML aliases (*name): the file expands to more than fhir-engage will read' : `not valid ${kind}: ${(err as Error).message.split('\n')[0]}`}`,
    );
  }
  return { doc, lines, data };
}
