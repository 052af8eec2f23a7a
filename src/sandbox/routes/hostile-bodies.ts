/** How a hostile or broken EMR shapes what it sends (quirks): the stored data is never changed. */
import zlib from 'node:zlib';
import type { Resource } from '@medplum/fhirtypes';
import type { Response } from 'express';
import type { Quirks } from '../quirks';

/** A resource as a hostile EMR serves it (quirks `badStringsIn`, `deepNestingIn`); the stored one is not changed. */
export function hostileCopy<T extends Resource>(resource: T, type: string, q: Quirks): T {
  if (q.badStringsIn === type)
    return {
      ...resource,
      extension: [
        ...((resource as { extension?: unknown[] }).extension ?? []),
        { url: 'https://sandbox.fhir-engage.example/hostile', valueString: 'before\u0000after' },
      ],
    };
  if (q.deepNestingIn === type) {
    let ext: Record<string, unknown> = { url: 'https://sandbox.fhir-engage.example/leaf', valueString: 'deep' };
    for (let i = 0; i < 500; i++) ext = { url: 'https://sandbox.fhir-engage.example/nest', extension: [ext] };
    return { ...resource, extension: [...((resource as { extension?: unknown[] }).extension ?? []), ext] };
  }
  return resource;
}

const MB = 1024 * 1024;
const SPACES = Buffer.alloc(MB, 0x20);

/** The page, then `mb` MB of whitespace, streamed a megabyte at a time (quirk `oversizedPageMB`). */
export function streamPadded(res: Response, text: string, mb: number): void {
  res.status(200).type('application/fhir+json');
  res.on('error', () => undefined);
  res.write(text);
  let sent = 0;
  const push = (): void => {
    while (sent < mb) {
      sent++;
      if (!res.write(SPACES)) return void res.once('drain', push);
    }
    res.end();
  };
  res.once('close', () => (sent = mb));
  push();
}

let spacesMember: Buffer | undefined;

/**
 * `mb` MB of whitespace then the page, gzip-compressed (~1,000:1; quirk `gzipBombMB`): one compressed
 * megabyte repeated as gzip members (a gzip body may hold several), so the inflated size is never held.
 */
export function sendBomb(res: Response, text: string, mb: number): void {
  spacesMember ??= zlib.gzipSync(SPACES, { level: 9 });
  const body = Buffer.concat([...Array.from({ length: mb }, () => spacesMember as Buffer), zlib.gzipSync(text)]);
  res
    .status(200)
    .set({ 'content-type': 'application/fhir+json', 'content-encoding': 'gzip', 'content-length': String(body.length) })
    .end(body);
}

/** Half the page (quirks `malformedJsonOnSearch`, `malformedJsonEvery`), else the page in whichever shape the quirks ask for. */
export function sendPage(res: Response, text: string, quirks: Quirks, malformed: boolean): void {
  if (malformed) {
    res
      .status(200)
      .type('application/fhir+json')
      .send(text.slice(0, Math.max(10, Math.floor(text.length / 2))));
    return;
  }
  if (quirks.oversizedPageMB) return streamPadded(res, text, quirks.oversizedPageMB);
  if (quirks.gzipBombMB) return sendBomb(res, text, quirks.gzipBombMB);
  res.status(200).type('application/fhir+json').send(text);
}
