/** Bulk Data: kick-off at system, Patient or Group level, status polling and cancellation, file downloads. */
import { notFound, badRequest } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import { SANDBOX_TYPES } from '../capability';
import type { ExportLevelRequest } from '../bulk-export';
import { badRequestAs, FHIR_BASE_PATH, queryParams, sendFhir, withText, type SandboxContext } from './context';

/** The status URL: polled (202 while preparing, the manifest when done) or cancelled with DELETE. */
function exportStatus(req: Request, res: Response, ctx: SandboxContext, jobId: string): void {
  const { bulkExports, quirks } = ctx;
  if (req.method === 'DELETE') {
    return bulkExports.cancel(jobId)
      ? void res.status(202).end()
      : sendFhir(res, 404, withText(notFound, 'no such export'));
  }
  const fileBase = quirks.quirks.bulkFileOrigin ? `${quirks.quirks.bulkFileOrigin}${FHIR_BASE_PATH}` : ctx.base();
  const answer = bulkExports.status(jobId, (job, index) => `${fileBase}/$export-file/${job}/${index}`);
  res.set(answer.headers);
  if (answer.status === 202) return void res.status(202).end();
  return answer.status === 200
    ? void res.status(200).json(answer.body)
    : sendFhir(res, answer.status, answer.body as OperationOutcome);
}

/** One NDJSON file, from a byte when asked (Range), slowly or cut short when the quirks say so. */
function exportFile(req: Request, res: Response, ctx: SandboxContext, jobId: string, index: number): void {
  const { bulkExports, quirks } = ctx;
  const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
  const got = bulkExports.file(jobId, index, range ? Number(range[1]) : 0);
  if (!('body' in got))
    return sendFhir(res, got.status, withText(got.status === 416 ? badRequest('range') : notFound, got.text));
  res.status(got.status).type('application/fhir+ndjson').set('Content-Length', String(got.body.length));
  const delay = quirks.quirks.bulkChunkDelayMs;
  if (delay && got.cutAt === undefined) {
    void (async () => {
      for (let at = 0; at < got.body.length && !res.destroyed; at += 16_384) {
        res.write(got.body.subarray(at, at + 16_384));
        bulkExports.counters.slowChunks++;
        await new Promise((r) => setTimeout(r, delay));
      }
      res.end();
    })();
    return;
  }
  if (got.cutAt === undefined) return void res.end(got.body);
  // The quirk: half the file, then the connection drops before the announced length.
  res.write(got.body.subarray(0, got.cutAt), () => res.destroy());
}

/** `$export` at system, Patient or Group level: 202 with the status URL in Content-Location. */
function kickOff(req: Request, res: Response, ctx: SandboxContext, rel: string): void {
  const kick = /^(?:(Patient)\/|Group\/([A-Za-z0-9\-.]{1,64})\/)?\$export$/.exec(rel);
  if (!kick || (req.method !== 'GET' && req.method !== 'POST'))
    return sendFhir(res, 404, withText(notFound, `no operation ${rel}`));
  if (!/respond-async/.test(String(req.headers.prefer ?? '')))
    return sendFhir(res, 400, badRequestAs('invalid', 'Bulk Data kick-off requires the header Prefer: respond-async'));
  const level: ExportLevelRequest = kick[1]
    ? { level: 'patient' }
    : kick[2]
      ? { level: 'group', groupId: kick[2] }
      : { level: 'system' };
  const started = ctx.bulkExports.kickOff(
    level,
    queryParams(req),
    ctx.servedTypes(Object.keys(SANDBOX_TYPES)),
    ctx.auth.auth.mode !== 'open',
    `${ctx.origin}${req.originalUrl}`,
  );
  if (!started.ok) return sendFhir(res, started.status, started.outcome);
  res.set('Content-Location', `${ctx.base()}/$export-status/${started.jobId}`);
  res.status(202).end();
}

/** A Bulk Data request (`rel`: the path under the FHIR base). */
export function bulkRequest(req: Request, res: Response, ctx: SandboxContext, rel: string): void {
  const status = /^\$export-status\/([0-9a-f]+)$/.exec(rel);
  if (status) return exportStatus(req, res, ctx, status[1] as string);
  const file = /^\$export-file\/([0-9a-f]+)\/(\d+)$/.exec(rel);
  if (file && req.method === 'GET') return exportFile(req, res, ctx, file[1] as string, Number(file[2]));
  kickOff(req, res, ctx, rel);
}
