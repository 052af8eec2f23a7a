/**
 * NDJSON read as it arrives: lines split on bytes (a multi-byte character is
 * never cut), numbered from 1, each with the byte offset just past it so that
 * a reader can resume a file at a line boundary (an HTTP Range request, or by
 * skipping lines when the server ignores Range).
 */

export interface NdjsonLine {
  /** 1-based line number in the file. */
  line: number;
  text: string;
  /** Byte offset just past this line's newline: where the next line starts. */
  endByte: number;
}

const NEWLINE = 0x0a;

export class LineTooLong extends Error {
  constructor(
    readonly line: number,
    readonly maxBytes: number,
  ) {
    super(`line ${line} is longer than ${maxBytes} bytes (limits.maxResponseMB): the file is not read further`);
  }
}
const decoder = new TextDecoder('utf-8');

/**
 * Lines of an NDJSON body. `start` says where `chunks` begin in the file
 * (after a Range request) and how many lines precede that point; lines up to
 * `skipLines` are counted but not yielded (a resumed file the server sent
 * from the beginning). Blank lines are skipped (numbered all the same). A last
 * line without a newline is yielded as it is: a file cut short shows as an
 * unreadable last line, never as a silently shorter file.
 */
export async function* ndjsonLines(
  chunks: AsyncIterable<Uint8Array>,
  start: { line: number; byte: number } = { line: 0, byte: 0 },
  skipLines = 0,
  /** A line longer than this stops the read (LineTooLong): a file with no newline is never held whole. */
  maxLineBytes = Number.POSITIVE_INFINITY,
): AsyncGenerator<NdjsonLine> {
  let line = start.line;
  let offset = start.byte;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const take = (tail: Uint8Array): NdjsonLine | undefined => {
    const parts = pendingBytes ? [...pending, tail] : [tail];
    const length = pendingBytes + tail.length;
    const bytes = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts, length);
    pending = [];
    pendingBytes = 0;
    line++;
    offset += length;
    if (line <= skipLines) return undefined;
    let text = decoder.decode(bytes);
    if (text.endsWith('\n')) text = text.slice(0, -1);
    if (text.endsWith('\r')) text = text.slice(0, -1);
    return text.trim() === '' ? undefined : { line, text, endByte: offset };
  };
  for await (const chunk of chunks) {
    let from = 0;
    for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, from)) {
      const out = take(chunk.subarray(from, i + 1));
      from = i + 1;
      if (out) yield out;
    }
    if (from < chunk.length) {
      // Copied: a stream may reuse its chunk buffers.
      const rest = chunk.slice(from);
      pending.push(rest);
      pendingBytes += rest.length;
      if (pendingBytes > maxLineBytes) throw new LineTooLong(line + 1, maxLineBytes);
    }
  }
  if (pendingBytes > 0) {
    const out = take(new Uint8Array(0));
    if (out) yield out;
  }
}
