/**
 * JSON text people hand to fhir-engage (files for `validate`, mapping test cases), parsed with
 * messages that say where (line and column) but never quote the text: V8's own messages repeat
 * the start of the input, which may be a patient's record. Duplicate keys, which JSON.parse
 * silently resolves to the last value, are reported as warnings naming the key.
 */

export type JsonTextResult = { ok: true; value: unknown; duplicateKeys: string[] } | { ok: false; error: string };

function lineColumn(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return `line ${line} column ${offset - lineStart + 1}`;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * One pass over the text: the offset of the first syntax error (or -1) and the paths of keys that
 * appear twice in the same object. Iterative, so that deep nesting cannot overflow the stack.
 */
export function scanJson(text: string): { errorAt: number; duplicateKeys: string[] } {
  const duplicateKeys: string[] = [];
  type Frame =
    | { kind: 'object'; keys: Set<string>; path: string }
    | { kind: 'array'; path: string; index: number }
    | { kind: 'member'; path: string };
  const stack: Frame[] = [];
  let i = 0;
  const skip = (): void => {
    while (i < text.length && WS.has(text.charCodeAt(i))) i++;
  };
  const readString = (): string | undefined => {
    // at the opening quote
    let out = '';
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c < 0x20) return undefined;
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return undefined;
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) return undefined;
        out += e;
        i += 2;
        continue;
      }
      out += text[i];
      i++;
    }
    return undefined;
  };
  type ObjectFrame = Extract<Frame, { kind: 'object' }>;
  /** At a key's opening quote: reads `"key":`, notes a repeated key, opens the member. Returns the offset of an error. */
  const readMember = (obj: ObjectFrame): number | undefined => {
    const keyAt = i;
    const key = readString();
    if (key === undefined) return keyAt;
    const path = obj.path ? `${obj.path}.${key}` : key;
    if (obj.keys.has(key)) duplicateKeys.push(path);
    obj.keys.add(key);
    skip();
    if (text[i] !== ':') return i;
    i++;
    stack.push({ kind: 'member', path });
    return undefined;
  };
  const scalar = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/;
  // Expecting a value at i; afterwards, a separator or the end of the enclosing container.
  let expectValue = true;
  for (;;) {
    skip();
    if (expectValue) {
      const c = text[i];
      const top = stack[stack.length - 1];
      const path = !top ? '' : top.kind === 'array' ? `${top.path}[${top.index}]` : top.path;
      if (c === '{') {
        i++;
        skip();
        if (text[i] === '}') {
          i++;
          expectValue = false;
          continue;
        }
        stack.push({ kind: 'object', keys: new Set(), path });
        // read the first key
        if (text[i] !== '"') return { errorAt: i, duplicateKeys };
      } else if (c === '[') {
        i++;
        skip();
        if (text[i] === ']') {
          i++;
          expectValue = false;
          continue;
        }
        stack.push({ kind: 'array', path, index: 0 });
        continue;
      } else if (c === '"') {
        if (readString() === undefined) return { errorAt: i, duplicateKeys };
        expectValue = false;
        continue;
      } else {
        const m = scalar.exec(text.slice(i, i + 400));
        if (!m) return { errorAt: i, duplicateKeys };
        i += m[0].length;
        expectValue = false;
        continue;
      }
      const bad = readMember(stack[stack.length - 1] as ObjectFrame);
      if (bad !== undefined) return { errorAt: bad, duplicateKeys };
      continue;
    }
    const top = stack[stack.length - 1];
    if (!top) {
      return { errorAt: i < text.length ? i : -1, duplicateKeys };
    }
    if (top.kind === 'member') {
      // a member value just ended: back to its object
      stack.pop();
      const obj = stack[stack.length - 1] as ObjectFrame;
      skip();
      if (text[i] === ',') {
        i++;
        skip();
        if (text[i] !== '"') return { errorAt: i, duplicateKeys };
        const bad = readMember(obj);
        if (bad !== undefined) return { errorAt: bad, duplicateKeys };
        expectValue = true;
        continue;
      }
      if (text[i] === '}') {
        i++;
        stack.pop();
        continue;
      }
      return { errorAt: i, duplicateKeys };
    }
    if (top.kind === 'array') {
      if (text[i] === ',') {
        i++;
        top.index++;
        expectValue = true;
        continue;
      }
      if (text[i] === ']') {
        i++;
        stack.pop();
        continue;
      }
      return { errorAt: i, duplicateKeys };
    }
    return { errorAt: i, duplicateKeys };
  }
}

/** Parses JSON text; a failure says where, in words of its own. */
export function parseJsonText(text: string): JsonTextResult {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const { errorAt } = scanJson(text);
    const at =
      errorAt < 0 || errorAt >= text.length
        ? 'unexpected end of the text'
        : `unexpected character at ${lineColumn(text, errorAt)}`;
    return { ok: false, error: `not valid JSON: ${text.trim() === '' ? 'the text is empty' : at}` };
  }
  // Only objects can repeat keys; the scan is skipped for the rest.
  const duplicateKeys =
    value !== null && typeof value === 'object' && text.includes('"') ? scanJson(text).duplicateKeys : [];
  return { ok: true, value, duplicateKeys };
}
