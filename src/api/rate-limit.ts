/**
 * Requests per minute per client address (fixed one-minute windows, in memory: one instance's share;
 * behind a load balancer each instance counts its own). Used by the public survey page.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

const WINDOW_MS = 60_000;
/** Past this many addresses, windows that have ended are dropped. */
const SWEEP_AT = 10_000;

export function rateLimiter(perMinute: () => number, refuse: (req: Request, res: Response) => void): RequestHandler {
  const windows = new Map<string, { start: number; count: number }>();
  return (req: Request, res: Response, next: NextFunction) => {
    const t = Date.now();
    if (windows.size > SWEEP_AT) for (const [k, w] of windows) if (t - w.start >= WINDOW_MS) windows.delete(k);
    const key = req.ip ?? 'unknown';
    let w = windows.get(key);
    if (!w || t - w.start >= WINDOW_MS) windows.set(key, (w = { start: t, count: 0 }));
    if (++w.count > perMinute()) return refuse(req, res);
    next();
  };
}
