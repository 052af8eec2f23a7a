/**
 * The access log: one row per patient (and source) whose data a request returns, naming the key's
 * id, the route (its pattern, not the URL) and the patient's id; never a name or an identifier
 * value. It fails closed: patient data is sent only once its rows are stored, and a request whose
 * rows cannot be stored gets 503 and none of the data. Sources and patients are those of the data
 * returned, not of the query. A refused request (4xx) is logged after the fact with no patient.
 */
import type express from 'express';
import type { Request, Response } from 'express';
import { logger } from '../log/logger';
import type { Store } from '../store/store';
import { sendOutcome } from './errors';
import type { AccessRow } from '../store/access';
import type { Principal } from './identity';

export interface Accessed {
  sourceId: string | null;
  patientId: string | null;
}

export interface AccessAudit {
  /** Middleware for a route that returns patient data: a request refused before `send` is logged when it finishes. */
  audited: express.RequestHandler;
  /** Records `accessed` (one row per distinct source and patient), then calls `send`; 503 and nothing sent if it cannot. */
  send(req: Request, res: Response, accessed: Accessed[], send: () => void): Promise<void>;
}

function accessRow(req: Request, res: Response, status: number): AccessRow {
  const p = res.locals.principal as Principal | undefined;
  return {
    keyId: p?.id ?? String(res.locals.keyId),
    actorKind: p?.kind ?? 'key',
    actorName: p?.name ?? null,
    role: (res.locals.role as string | undefined) ?? null,
    change: (res.locals.change as string | undefined) ?? null,
    client: req.ip ?? req.socket.remoteAddress ?? null,
    method: req.method,
    route: `/api${(req.route as { path?: string } | undefined)?.path ?? ''}`,
    status,
    sourceId: null as string | null,
    patientId: null as string | null,
  };
}

export function accessAudit(store: Store): AccessAudit {
  return {
    audited(req, res, next) {
      res.on('finish', () => {
        if (res.locals.audited) return;
        store
          .recordAccess(accessRow(req, res, res.statusCode))
          .catch((err: unknown) =>
            logger().error({ err, event: 'access-log-failed' }, 'could not record a refused request for patient data'),
          );
      });
      next();
    },
    async send(req, res, accessed, send) {
      const unique = [...new Map(accessed.map((a) => [`${a.sourceId}|${a.patientId}`, a])).values()];
      const rows = (unique.length ? unique : [{ sourceId: null, patientId: null }]).map((a) => ({
        ...accessRow(req, res, 200),
        ...a,
      }));
      res.locals.audited = true;
      try {
        await store.recordAccesses(rows);
      } catch (err) {
        logger().error(
          { err, event: 'access-log-failed' },
          'could not record an access to patient data: nothing was returned',
        );
        return sendOutcome(
          res,
          {
            resourceType: 'OperationOutcome',
            issue: [
              {
                severity: 'error',
                code: 'transient',
                details: {
                  text: 'the access could not be recorded in the access log, so no patient data is returned: try again later',
                },
              },
            ],
          },
          503,
        );
      }
      send();
    },
  };
}
