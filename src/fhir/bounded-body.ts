/**
 * Reading what a server sends, bounded: a body is given up as soon as it passes its size or
 * inflation limit, and a download as soon as no data comes for the request's timeout.
 */
import { HttpError } from '../errors';
import type { HttpRequest } from './transport';

/** Default bound on one response body (after decompression): a page of 1,000 large resources is ~10 MB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Default bound on decompressed bytes per compressed byte: JSON compresses ~10×; a gzip bomb ~1,000×. */
export const DEFAULT_MAX_INFLATION_RATIO = 100;

/**
 * The body as text, read as it arrives and given up (the connection closed) as soon as it passes
 * maxResponseBytes or inflates past maxInflationRatio times its compressed length: neither a
 * 200 MB page nor a 1 MB gzip bomb is ever held whole. Not retried: it would come the same again.
 */
export async function readBoundedBody(
  res: Response,
  request: HttpRequest,
  safeUrl: string,
  controller: AbortController,
  limits: { maxResponseBytes?: number; maxInflationRatio?: number },
): Promise<string> {
  if (!res.body) return '';
  const max = limits.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const ratio = limits.maxInflationRatio ?? DEFAULT_MAX_INFLATION_RATIO;
  const declared = Number(res.headers.get('content-length') ?? NaN);
  const encoding = res.headers.get('content-encoding');
  const compressed = encoding !== null && encoding !== 'identity' && Number.isFinite(declared) && declared > 0;
  const refuse = (why: string): never => {
    controller.abort();
    throw new HttpError({
      method: request.method,
      url: safeUrl,
      status: res.status,
      code: 'too-costly',
      text: `${request.method} ${safeUrl}: the response was refused: ${why}`,
    });
  };
  if (Number.isFinite(declared) && declared > max)
    refuse(`it declares ${declared} bytes, more than the ${max} allowed (limits.maxResponseMB)`);
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) refuse(`it passed ${max} bytes (limits.maxResponseMB)`);
    if (compressed && total > declared * ratio)
      refuse(`${declared} ${encoding} bytes inflated past ${ratio} times their size (limits.maxInflationRatio)`);
    parts.push(value);
  }
  return Buffer.concat(parts, total).toString('utf8');
}

/** Aborts a request when it sees no progress for `timeoutMs`; started at once, restarted per chunk. */
export class IdleTimer {
  private timer: NodeJS.Timeout;

  constructor(
    private readonly controller: AbortController,
    readonly timeoutMs: number,
  ) {
    this.timer = setTimeout(() => controller.abort(), timeoutMs);
  }

  clear(): void {
    clearTimeout(this.timer);
  }

  restart(): void {
    this.clear();
    this.timer = setTimeout(() => this.controller.abort(), this.timeoutMs);
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }
}

/** A download's chunks; one that breaks off (or stalls past the timeout) is an HttpError naming why. */
export async function* idleTimedChunks(
  stream: ReadableStream<Uint8Array>,
  timer: IdleTimer,
  method: string,
  safeUrl: string,
): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of stream) {
      timer.clear();
      yield chunk;
      timer.restart();
    }
  } catch (err) {
    const why = timer.aborted
      ? `no data for ${timer.timeoutMs} ms`
      : ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name);
    throw new HttpError({
      method,
      url: safeUrl,
      code: 'transient',
      text: `${method} ${safeUrl}: the download broke off (${why})`,
    });
  } finally {
    timer.clear();
  }
}
