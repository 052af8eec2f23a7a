/**
 * From planned writes to outbox rows: unchanged content is dropped here (no
 * request at all), every outgoing resource is validated first, and the rows
 * are enqueued by the caller in the same transaction as the indicators that
 * caused them.
 */
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { DesiredWrite } from '../actions/plan';
import type { ActionSettings } from '../config/action-settings';
import type { DeadLetterInput, WrittenResource } from '../store/types';
import type { OutboxInsert } from '../store/queries';
import type { ResourceValidator } from '../validation/validator';
import { internalError } from '../errors';
import { comparableHash } from './content';
import type { OutboxPayload } from './outbox-item';

export interface PreparedWrites {
  outbox: Omit<OutboxInsert, 'contentHash'>[];
  payloads: OutboxPayload[];
  deadLetters: DeadLetterInput[];
  unchanged: number;
}

export interface PrepareContext {
  sourceId: string;
  runId: string;
  target: string;
  settings: ActionSettings;
  validator: ResourceValidator;
  /** Throw on an invalid outgoing resource (tests) instead of dead-lettering it (production). */
  strict?: boolean;
}

export function prepareWrites(
  writes: DesiredWrite[],
  written: Map<string, WrittenResource>,
  ctx: PrepareContext,
): PreparedWrites {
  const out: PreparedWrites = { outbox: [], payloads: [], deadLetters: [], unchanged: 0 };
  for (const w of writes) {
    let payload: OutboxPayload;
    // What was written to another server (a changed write target) does not count here.
    const known = written.get(w.identifier);
    const before = known && known.target === ctx.target ? known : undefined;
    if (w.op === 'upsert') {
      const check = ctx.validator.validate(w.resource, 'outgoing');
      if (!check.valid) {
        if (ctx.strict)
          throw internalError(`rule ${w.rule} produced an invalid ${w.resourceType}: ${JSON.stringify(check.outcome)}`);
        out.deadLetters.push({
          sourceId: ctx.sourceId,
          runId: ctx.runId,
          stage: 'actions',
          resourceType: w.resourceType,
          payload: w.resource,
          outcome: check.outcome as OperationOutcome,
        });
        continue;
      }
      const hash = comparableHash(w.resource as unknown as Record<string, unknown>);
      if (before && before.contentHash === hash && before.state === 'open') {
        out.unchanged++;
        continue;
      }
      payload = {
        op: 'upsert',
        identifierSystem: ctx.settings.identifierSystem,
        identifier: w.identifier,
        rule: w.rule,
        patientId: w.patientId,
        resourceType: w.resourceType,
        resource: w.resource,
        entities: w.entities,
        contentHash: hash,
        ...(w.programme ? { programme: w.programme } : {}),
      };
    } else {
      if (before?.state !== 'open') continue;
      payload = {
        op: 'close',
        identifierSystem: ctx.settings.identifierSystem,
        identifier: w.identifier,
        rule: w.rule,
        patientId: w.patientId,
        resourceType: 'Task',
        status: w.status,
        reason: w.reason,
        serverId: w.serverId,
        entities: w.entities,
        at: w.at,
        ...(w.programme ? { programme: w.programme } : {}),
      };
    }
    out.payloads.push(payload);
    out.outbox.push({
      target: ctx.target,
      dedupeKey: `${ctx.target}|${w.identifier}`,
      resourceType: w.resourceType,
      payload,
      priority: w.priority,
    });
  }
  return out;
}
