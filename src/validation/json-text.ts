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

type Frame =
  | { kind: 'object'; keys: Set<string>; path: string }
  | { kind: 'array'; path: string; index: number }
  | { kind: 'member'; path: string };
type ObjectFrame = Extract<Frame, { kind: 'object' }>;

const SCALAR = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/;

/** Step results: go on (expecting a value, or a separator), or stop with the offset of an error (-1: none). */
type Step = 'value' | 'separator' | { errorAt: number };

/**
 * One pass over the text: the offset of the first syntax error (or -1) and the paths of keys that
 * appear twice in the same object. Iterative, so that deep nesting cannot overflow the stack.
 */
export function scanJson(text: string): { errorAt: number; duplicateKeys: string[] } {
  return new JsonScanner(text).scan();
}

class JsonScanner {
  private readonly duplicateKeys: string[] = [];
  private readonly stack: Frame[] = [];
  private i = 0;

  constructor(private readonly text: string) {}

  scan(): { errorAt: number; duplicateKeys: string[] } {
    // Expecting a value at i; afterwards, a separator or the end of the enclosing container.
    let step: Step = 'value';
    while (typeof step === 'string') {
      this.skip();
      step = step === 'value' ? this.value() : this.separator();
    }
    return { errorAt: step.errorAt, duplicateKeys: this.duplicateKeys };
  }

  private skip(): void {
    while (this.i < this.text.length && WS.has(this.text.charCodeAt(this.i))) this.i++;
  }

  /** At the opening quote: the string's value, or undefined when it is not a valid JSON string. */
  private readString(): string | undefined {
    const text = this.text;
    let out = '';
    this.i++;
    while (this.i < text.length) {
      const c = text.charCodeAt(this.i);
      if (c === 0x22) {
        this.i++;
        return out;
      }
      if (c < 0x20) return undefined;
      if (c === 0x5c) {
        const e = text[this.i + 1];
        if (e === 'u') {
          const hex = text.slice(this.i + 2, this.i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) return undefined;
          out += String.fromCharCode(parseInt(hex, 16));
          this.i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) return undefined;
        out += e;
        this.i += 2;
        continue;
      }
      out += text[this.i];
      this.i++;
    }
    return undefined;
  }

  /** At a key's opening quote: reads `"key":`, notes a repeated key, opens the member. */
  private readMember(obj: ObjectFrame): Step {
    const keyAt = this.i;
    const key = this.readString();
    if (key === undefined) return { errorAt: keyAt };
    const path = obj.path ? `${obj.path}.${key}` : key;
    if (obj.keys.has(key)) this.duplicateKeys.push(path);
    obj.keys.add(key);
    this.skip();
    if (this.text[this.i] !== ':') return { errorAt: this.i };
    this.i++;
    this.stack.push({ kind: 'member', path });
    return 'value';
  }

  /** A value: an object or array opened (or an empty one read), a string or a scalar read. */
  private value(): Step {
    const c = this.text[this.i];
    const top = this.stack[this.stack.length - 1];
    const path = !top ? '' : top.kind === 'array' ? `${top.path}[${top.index}]` : top.path;
    if (c === '{' || c === '[') {
      this.i++;
      this.skip();
      if (this.text[this.i] === (c === '{' ? '}' : ']')) {
        this.i++;
        return 'separator';
      }
      if (c === '[') {
        this.stack.push({ kind: 'array', path, index: 0 });
        return 'value';
      }
      const obj: ObjectFrame = { kind: 'object', keys: new Set(), path };
      this.stack.push(obj);
      return this.text[this.i] === '"' ? this.readMember(obj) : { errorAt: this.i };
    }
    if (c === '"') return this.readString() === undefined ? { errorAt: this.i } : 'separator';
    const m = SCALAR.exec(this.text.slice(this.i, this.i + 400));
    if (!m) return { errorAt: this.i };
    this.i += m[0].length;
    return 'separator';
  }

  /** After a value: the end of the text, the next member or element, or the end of the container. */
  private separator(): Step {
    const top = this.stack[this.stack.length - 1];
    const c = this.text[this.i];
    if (!top) return { errorAt: this.i < this.text.length ? this.i : -1 };
    if (top.kind === 'member') {
      // a member value just ended: back to its object
      this.stack.pop();
      const obj = this.stack[this.stack.length - 1] as ObjectFrame;
      this.skip();
      if (this.text[this.i] === ',') {
        this.i++;
        this.skip();
        return this.text[this.i] === '"' ? this.readMember(obj) : { errorAt: this.i };
      }
      if (this.text[this.i] === '}') {
        this.i++;
        this.stack.pop();
        return 'separator';
      }
      return { errorAt: this.i };
    }
    if (top.kind === 'array' && c === ',') {
      this.i++;
      top.index++;
      return 'value';
    }
    if (top.kind === 'array' && c === ']') {
      this.i++;
      this.stack.pop();
      return 'separator';
    }
    return { errorAt: this.i };
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
