/**
 * Whether the database refused a statement because of the data in it, as opposed to being
 * unreachable, overloaded or mis-migrated. Only a refusal of the data can be narrowed down to the
 * rows that cause it (pull.ts stores the rest of a page and dead-letters those rows); any other
 * failure stops the stage and is retried by the next run with nothing lost.
 *
 * SQLSTATE classes (PostgreSQL Appendix A, the same codes in PGlite):
 * 22 data exception (e.g. 22P05 untranslatable character: `\u0000` in JSONB),
 * 23 integrity constraint violation, 54 program limit exceeded (e.g. 54001 nested too deep).
 */
const DATA_CLASSES = new Set(['22', '23', '54']);

export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The SQLSTATE of `err` or of its cause. */
export function sqlStateOf(err: unknown): string | undefined {
  return sqlState(err) ?? sqlState((err as { cause?: unknown } | null)?.cause);
}

export function isDataRefusal(err: unknown): boolean {
  const code = sqlStateOf(err);
  return code !== undefined && DATA_CLASSES.has(code.slice(0, 2));
}

/**
 * Whether the store's connection was lost under a statement (a restart, a failover,
 * pg_terminate_backend): SQLSTATE class 08, 57P01–57P03, or the driver's own words when the socket
 * closed before any SQLSTATE could be sent.
 */
export function isConnectionLoss(err: unknown): boolean {
  for (let e: unknown = err, i = 0; e && i < 4; e = (e as { cause?: unknown }).cause, i++) {
    const code = sqlState(e);
    if (code && (code.startsWith('08') || /^57P0[123]$/.test(code))) return true;
    if (
      /Connection terminated|terminating connection|Client has encountered a connection error|connection (is )?closed/i.test(
        (e as Error).message ?? '',
      )
    )
      return true;
  }
  return false;
}
