/**
 * A first run that asks before it writes: a source that never wrote plans but sends nothing until the
 * plan is approved, then exactly that plan is sent; a later run with an unusual volume is held too.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Task } from '@medplum/fhirtypes';
import { runCli } from '../../src/cli/program';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import type { SandboxServer } from '../../src/sandbox/server';
import { openStore } from '../../src/store/open';
import type { Store } from '../../src/store/store';
import { approveAndSend } from '../../src/sync/approval';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';

const ANCHOR = new Date(TEST_ANCHOR);
const config: AppConfig = loadConfig({ env: {}, cwd: os.tmpdir() });
let emr: SandboxServer;
beforeAll(async () => {
  emr = await seededSandbox({ patients: 12, seed: 5, fixtures: false });
});
afterAll(() => emr.close());

const ownTasks = (): Task[] =>
  (emr.repo.all('Task') as Task[]).filter((t) =>
    t.identifier?.some((i) => i.system === DEFAULT_ACTION_SETTINGS.identifierSystem && i.value?.includes('/')),
  );
const wrote = (s: {
  writes: Record<string, { created: number; updated: number; cancelled: number; completed: number }>;
}) => Object.values(s.writes).reduce((n, w) => n + w.created + w.updated + w.cancelled + w.completed, 0);

describe('first run', () => {
  let store: Store;
  beforeAll(async () => {
    store = await memoryStore();
  });
  afterAll(() => store.close());

  test('holds its plan until approved, then sends exactly it; the next run writes nothing', async () => {
    const source = testSource({ id: 'held', baseUrl: emr.baseUrl, approval: { firstRun: 'hold' } });
    const before = ownTasks().length;
    const first = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
    expect(first.status).toBe('succeeded');
    expect(first.approval).toMatchObject({ reason: 'first-run', command: 'fhir-engage approve --source held' });
    const plan = first.approval!.plan;
    expect(plan.total).toBeGreaterThan(0);
    expect(plan.byRule.map((r) => r.rule)).toContain('appointment-reminder');
    for (const r of plan.byRule) expect(r.examples.length).toBeLessThanOrEqual(3);
    expect(wrote(first)).toBe(0);
    expect(ownTasks().length).toBe(before);
    // Still held on the next run: nothing sent, the same hold, its plan refreshed.
    const again = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
    expect(again.approval?.reason).toBe('first-run');
    expect(wrote(again)).toBe(0);
    expect(ownTasks().length).toBe(before);

    const { approval, sent } = await approveAndSend(store, source, 'test:reviewer');
    expect(approval.approvedBy).toBe('test:reviewer');
    const created = Object.values(sent.byType).reduce((n, c) => n + (c.created ?? 0), 0);
    expect(created).toBe(approval.plan.total);
    expect(ownTasks().length - before).toBe(
      plan.byRule.filter((r) => r.resourceType === 'Task').reduce((n, r) => n + r.count, 0),
    );
    const after = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
    expect(after.approval).toBeUndefined();
    expect(wrote(after)).toBe(0);
    await expect(approveAndSend(store, source, 'x')).rejects.toThrow('nothing of held is held for approval');
  });
});

test('a run whose plan is far above the usual volume is held, naming the figures', async () => {
  const store = await memoryStore();
  try {
    const source = testSource({
      id: 'volume',
      baseUrl: emr.baseUrl,
      approval: { firstRun: 'write', holdAbove: 5, holdFloor: 10 },
    });
    // The source's usual volume: runs that wrote 2 each.
    for (const id of ['old-1', 'old-2', 'old-3']) {
      await store.upsertSource({ id: 'volume', baseUrl: emr.baseUrl });
      await store.createRun({ id, sourceId: 'volume', asOf: ANCHOR, options: {} });
      await store.finishRun(id, 'succeeded', {
        writes: { Task: { created: 2, updated: 0, cancelled: 0, completed: 0 } },
      });
    }
    const run = await syncSource(store, config, source, { asOf: ANCHOR, strict: true });
    expect(run.approval?.reason).toBe('volume');
    expect(run.approval?.detail).toMatch(
      /writes planned, more than 5 × the usual 2 .* and more than 10; held until approved/,
    );
    expect(wrote(run)).toBe(0);
  } finally {
    await store.close();
  }
});

test('fhir-engage approve shows the held plan, and sends it with --yes', async () => {
  // An EMR of its own: nothing of fhir-engage's is in it yet.
  const fresh = await seededSandbox({ patients: 6, seed: 8, fixtures: false });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-approve-'));
  const file = path.join(dir, 'fhir-engage.config.yaml');
  writeFileSync(file, `sources:\n  - id: cli-held\n    baseUrl: ${fresh.baseUrl}\n`);
  const env = { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const io = () => {
    const out: string[] = [];
    return { out, io: { out: (l: string) => out.push(l), err: (l: string) => out.push(l), isTTY: false } };
  };
  try {
    const sync = io();
    expect(await runCli(['node', 'fhir-engage', '-c', file, 'sync', '--as-of', TEST_ANCHOR], sync.io)).toBe(0);
    expect(sync.out.join('\n')).toContain('HELD FOR APPROVAL (first-run)');
    expect(sync.out.join('\n')).toContain('review it, then run: fhir-engage approve --source cli-held');
    const show = io();
    expect(await runCli(['node', 'fhir-engage', '-c', file, 'approve', '--source', 'cli-held'], show.io)).toBe(0);
    expect(show.out.join('\n')).toMatch(/appointment-reminder: \d+ Task to write/);
    expect(show.out.join('\n')).toContain('nothing was sent: run again with --yes');
    const send = io();
    expect(await runCli(['node', 'fhir-engage', '-c', file, 'approve', '--source', 'cli-held', '--yes'], send.io)).toBe(
      0,
    );
    expect(send.out.join('\n')).toMatch(/approved and sent: Task: \d+ created; Observation: \d+ created$/);
    const store = await openStore(loadConfig({ env: { ...process.env }, cwd: dir }).store);
    try {
      expect(await store.openApproval('cli-held')).toBeUndefined();
    } finally {
      await store.close();
    }
  } finally {
    process.env = saved;
    await fresh.close();
  }
});
