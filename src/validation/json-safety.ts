/**
 * What must hold of any JSON value before it is validated, hashed or stored:
 * no string (value or key) with a character FHIR forbids, and no nesting
 * deeper than MAX_JSON_DEPTH. Both are checked by one iterative walk, so a
 * hostile resource cannot overflow the stack here (ajv and the canonical
 * hash recurse, and overflowed at ~500 nested extensions).
 *
 * FHIR R4 JSON (https://hl7.org/fhir/R4/json.html#primitive, and the
 * `string` datatype, https://hl7.org/fhir/R4/datatypes.html#string): strings
 * "SHALL NOT contain Unicode character points below 32", except for horizontal
 * tab, carriage return and line feed. An
 * unpaired UTF-16 surrogate is no Unicode character at all. PostgreSQL's
 * JSONB refuses both `\u0000` and lone surrogates, so such a resource could
 * not be stored in any case: it is a dead letter naming the element.
 */

/**
 * Objects and arrays inside one another, counted in JSON levels (an
 * `extension[0]` is two). The deepest real resources seen (nested
 * Questionnaire items, contained resources with extensions) stay under 40;
 * ajv's recursion overflowed Node's stack near 1,000.
 */
export const MAX_JSON_DEPTH = 100;

/** Characters FHIR forbids in a string, and UTF-16 surrogates without their pair. */
const FORBIDDEN =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const FORBIDDEN_ALL = new RegExp(FORBIDDEN.source, 'g');

export type UnsafeKind = 'character' | 'depth';

export interface UnsafeValue {
  kind: UnsafeKind;
  /** FHIRPath-like location: `Patient.name[0].given[1]` (shortened in the middle when very deep). */
  expression: string;
}

export function hasForbiddenCharacter(text: string): boolean {
  return FORBIDDEN.test(text);
}

/** `text` with every forbidden character replaced by U+FFFD, so that it can be stored and shown. */
export function replaceForbiddenCharacters(text: string): string {
  return FORBIDDEN.test(text) ? text.replace(FORBIDDEN_ALL, '\uFFFD') : text;
}

/** Path segments → `Type.a[0].b`; a path of more than 12 segments keeps its first 6 and last 4. */
function render(root: string, segments: (string | number)[]): string {
  const part = (s: string | number): string => (typeof s === 'number' ? `[${s}]` : `.${replaceForbiddenCharacters(s)}`);
  if (segments.length <= 12) return root + segments.map(part).join('');
  return `${root}${segments.slice(0, 6).map(part).join('')}…(${segments.length - 10} more)…${segments.slice(-4).map(part).join('')}`;
}

interface Frame {
  value: unknown;
  /** The key or index that leads here from `parent`; the path is rebuilt only for a place reported. */
  key: string | number | undefined;
  parent: Frame | undefined;
  depth: number;
}

function pathOf(frame: Frame, extra?: string): (string | number)[] {
  const out: (string | number)[] = extra === undefined ? [] : [extra];
  for (let f: Frame | undefined = frame; f?.parent; f = f.parent) out.push(f.key as string | number);
  return out.reverse();
}

/**
 * The first `limit` places in `value` that break the rules above, in document order; [] when none.
 * Iterative, and allocation-light on the usual clean resource (it runs on every one pulled): any
 * depth of input is safe to pass.
 */
export function findUnsafeValues(root: string, value: unknown, limit = 5): UnsafeValue[] {
  const out: UnsafeValue[] = [];
  const stack: Frame[] = [{ value, key: undefined, parent: undefined, depth: 0 }];
  while (stack.length > 0 && out.length < limit) {
    const frame = stack.pop() as Frame;
    const v = frame.value;
    if (typeof v === 'string') {
      if (FORBIDDEN.test(v)) out.push({ kind: 'character', expression: render(root, pathOf(frame)) });
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (frame.depth >= MAX_JSON_DEPTH) {
      out.push({ kind: 'depth', expression: render(root, pathOf(frame)) });
      continue;
    }
    const depth = frame.depth + 1;
    // Pushed in reverse, so that issues come out in document order.
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const child = v[i];
        if (child !== null && (typeof child === 'object' || typeof child === 'string'))
          stack.push({ value: child, key: i, parent: frame, depth });
      }
      continue;
    }
    const keys = Object.keys(v as Record<string, unknown>);
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i] as string;
      if (FORBIDDEN.test(k)) {
        out.push({ kind: 'character', expression: render(root, pathOf(frame, k)) });
        continue;
      }
      const child = (v as Record<string, unknown>)[k];
      if (child !== null && (typeof child === 'object' || typeof child === 'string'))
        stack.push({ value: child, key: k, parent: frame, depth });
    }
  }
  return out.slice(0, limit);
}

const CUT = `[removed by fhir-engage: nested deeper than ${MAX_JSON_DEPTH} levels]`;

/**
 * A copy of `value` that any store accepts and any recursive code can walk: forbidden characters
 * replaced by U+FFFD, anything below MAX_JSON_DEPTH replaced by a note. Used for what is kept of a
 * refused resource (its dead letter), never for data that is used.
 */
export function storableCopy<T>(value: T): T {
  if (typeof value === 'string') return replaceForbiddenCharacters(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (findUnsafeValues('', value, 1).length === 0) return value;
  const copy = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return replaceForbiddenCharacters(v);
    if (v === null || typeof v !== 'object') return v;
    if (depth >= MAX_JSON_DEPTH) return CUT;
    if (Array.isArray(v)) return v.map((x) => copy(x, depth + 1));
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map(([k, x]) => [replaceForbiddenCharacters(k), copy(x, depth + 1)]),
    );
  };
  return copy(value, 0) as T;
}
