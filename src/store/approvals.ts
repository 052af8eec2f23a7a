/**
 * Planned writes held for a person's approval (docs/programme.md): the plan a held run would have
 * sent (the source's pending outbox rows, summarised by rule and type with example patients), the
 * hold, and its approval. Its SQL builders (pure, `{ text, values }`, values never interpolated) and
 * the methods that run them, together; the methods are part of `Store` (store.ts).
 */
import type { SqlQuery } from './driver';
import type { RoleContext } from './role';
import { date, dateOrNull, q, str } from './rows';

/** What a held plan would write: counts by rule and resource type, a few example patients each. */
export interface PlanSummary {
  total: number;
  byRule: {
    /** The programme that asked for the write (or that the patient left, for a close); null for rows before programmes. */
    programme: string | null;
    rule: string;
    resourceType: string;
    op: string;
    count: number;
    examples: string[];
  }[];
  /** The plan is the source's pending outbox rows up to this id. */
  upToOutboxId: number;
}

export interface WriteApproval {
  id: number;
  sourceId: string;
  runId: string | null;
  reason: 'first-run' | 'volume';
  detail: string;
  plan: PlanSummary;
  heldAt: Date;
  approvedAt: Date | null;
  approvedBy: string | null;
}

export const pendingPlan = (sourceId: string): SqlQuery =>
  q(
    `SELECT payload->>'programme' AS programme, payload->>'rule' AS rule, resource_type, payload->>'op' AS op,
            count(*)::int AS n, (array_agg(DISTINCT payload->>'patientId'))[1:3] AS examples, max(id) AS max_id
     FROM outbox WHERE source_id = $1 AND state = 'pending' AND payload->>'op' IN ('upsert', 'close')
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
    [sourceId],
  );

export const openApproval = (sourceId: string): SqlQuery =>
  q('SELECT * FROM write_approvals WHERE source_id = $1 AND approved_at IS NULL ORDER BY id DESC LIMIT 1', [sourceId]);

export const anyApproval = (sourceId: string): SqlQuery =>
  q('SELECT 1 FROM write_approvals WHERE source_id = $1 AND approved_at IS NOT NULL LIMIT 1', [sourceId]);

export const createHold = (
  sourceId: string,
  runId: string | null,
  reason: string,
  detail: string,
  plan: PlanSummary,
): SqlQuery =>
  q(
    `INSERT INTO write_approvals (source_id, run_id, reason, detail, plan, up_to_outbox_id)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING *`,
    [sourceId, runId, reason, detail, JSON.stringify(plan), plan.upToOutboxId],
  );

export const refreshHold = (id: number, runId: string | null, plan: PlanSummary): SqlQuery =>
  q(
    `UPDATE write_approvals SET run_id = $2, plan = $3::jsonb, up_to_outbox_id = $4
     WHERE id = $1 AND approved_at IS NULL RETURNING *`,
    [id, runId, JSON.stringify(plan), plan.upToOutboxId],
  );

export const approveHold = (id: number, by: string): SqlQuery =>
  q(
    `UPDATE write_approvals SET approved_at = now(), approved_by = $2
     WHERE id = $1 AND approved_at IS NULL RETURNING *`,
    [id, by],
  );

function toApproval(r: Record<string, unknown>): WriteApproval {
  return {
    id: Number(r.id),
    sourceId: String(r.source_id),
    runId: str(r.run_id),
    reason: r.reason as WriteApproval['reason'],
    detail: String(r.detail),
    plan: r.plan as PlanSummary,
    heldAt: date(r.held_at),
    approvedAt: dateOrNull(r.approved_at),
    approvedBy: str(r.approved_by),
  };
}

/** Holds and approvals of planned writes. */
export function approvalsRole({ db }: RoleContext) {
  return {
    /** What the source's pending outbox rows would write. */
    async pendingPlan(sourceId: string): Promise<PlanSummary> {
      const rows = await db.query(pendingPlan(sourceId));
      const byRule = rows.map((r) => ({
        programme: str(r.programme),
        rule: String(r.rule ?? '?'),
        resourceType: String(r.resource_type),
        op: String(r.op ?? 'upsert'),
        count: Number(r.n),
        examples: ((r.examples as unknown[] | null) ?? []).map(String),
      }));
      return {
        total: byRule.reduce((n, r) => n + r.count, 0),
        byRule,
        upToOutboxId: rows.reduce((m, r) => Math.max(m, Number(r.max_id)), 0),
      };
    },
    async openApproval(sourceId: string): Promise<WriteApproval | undefined> {
      const [row] = await db.query(openApproval(sourceId));
      return row ? toApproval(row) : undefined;
    },
    /** Whether any hold of the source was ever approved (the first run's hold is asked once). */
    async everApproved(sourceId: string): Promise<boolean> {
      return (await db.query(anyApproval(sourceId))).length > 0;
    },
    async holdWrites(
      sourceId: string,
      runId: string | null,
      reason: WriteApproval['reason'],
      detail: string,
      plan: PlanSummary,
    ): Promise<WriteApproval> {
      const [row] = await db.query(createHold(sourceId, runId, reason, detail, plan));
      return toApproval(row as Record<string, unknown>);
    },
    async refreshHold(id: number, runId: string | null, plan: PlanSummary): Promise<WriteApproval | undefined> {
      const [row] = await db.query(refreshHold(id, runId, plan));
      return row ? toApproval(row) : undefined;
    },
    async approveHold(id: number, by: string): Promise<WriteApproval | undefined> {
      const [row] = await db.query(approveHold(id, by));
      return row ? toApproval(row) : undefined;
    },
  };
}

export type ApprovalsRole = ReturnType<typeof approvalsRole>;
