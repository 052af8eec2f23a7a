/**
 * `fhir-engage purge --source <id>`: a clinic that left the programme. Counts first, removes with
 * --yes, refuses a source still in the sources file or unknown to the store, and says why.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load';
import type { CliIo } from '../../src/cli/io';
import { runCli } from '../../src/cli/program';
import { openStore } from '../../src/store/open';
import { syncSource } from '../../src/sync/run';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';

const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-purge-'));
const dataDir = path.join(dir, 'data');
const configFile = path.join(dir, 'fhir-engage.config.yaml');
const saved = { data: process.env.FHIR_ENGAGE_DATA_DIR, level: process.env.LOG_LEVEL };

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false };
  const code = await runCli(['node', 'fhir-engage', '-c', configFile, 'purge', ...args], io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function resourcesOf(sourceId: string): Promise<number> {
  const store = await openStore({ dataDir, schema: 'public' });
  try {
    return (
      await store.driver.query<{ n: number }>({
        text: 'SELECT count(*)::int AS n FROM resources WHERE source_id = $1',
        values: [sourceId],
      })
    )[0]!.n;
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  process.env.FHIR_ENGAGE_DATA_DIR = dataDir;
  process.env.LOG_LEVEL = 'silent';
  const emr = await seededSandbox({ patients: 4, seed: 43 });
  const store = await openStore({ dataDir, schema: 'public' });
  try {
    const config = loadConfig({ env: {}, cwd: dir });
    for (const id of ['clinic-a', 'clinic-b'])
      await syncSource(store, config, testSource({ id, baseUrl: emr.baseUrl }), { asOf: new Date(TEST_ANCHOR) });
  } finally {
    await store.close();
    await emr.close();
  }
  // clinic-b has left the programme: only clinic-a remains in the sources file.
  writeFileSync(configFile, 'sources:\n  - id: clinic-a\n    baseUrl: https://emr.example.org/fhir/R4\n');
}, 60_000);

afterAll(() => {
  for (const [k, v] of [
    ['FHIR_ENGAGE_DATA_DIR', saved.data],
    ['LOG_LEVEL', saved.level],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

test('without --yes it counts and removes nothing; with --yes it removes every row of the source', async () => {
  const before = await resourcesOf('clinic-b');
  expect(before).toBeGreaterThan(0);
  const counted = await cli('--source', 'clinic-b');
  expect(counted.code).toBe(0);
  expect(counted.out).toMatch(new RegExp(`^resources +${before} row\\(s\\) to remove$`, 'm'));
  expect(counted.err).toMatch(
    /nothing removed: \d+ row\(s\) of source clinic-b would go; run again with --yes to remove them/,
  );
  expect(await resourcesOf('clinic-b')).toBe(before);

  const removed = await cli('--source', 'clinic-b', '--yes');
  expect(removed.code).toBe(0);
  expect(removed.out).toMatch(new RegExp(`^resources +${before} row\\(s\\) removed$`, 'm'));
  expect(removed.err).toMatch(
    /removed source clinic-b: \d+ row\(s\) from PGlite at .*; the access log keeps its entries/,
  );
  expect(await resourcesOf('clinic-b')).toBe(0);
  expect(await resourcesOf('clinic-a')).toBeGreaterThan(0);

  // Gone: a second purge is told the store holds nothing of it, and which sources it holds.
  const again = await cli('--source', 'clinic-b', '--yes');
  expect(again.code).toBe(2);
  expect(again.err).toContain('the store holds nothing of a source "clinic-b" (sources in the store: clinic-a)');
}, 30_000);

test('a source still in the sources file is refused, and so are missing or mixed options', async () => {
  const configured = await cli('--source', 'clinic-a', '--yes');
  expect(configured.code).toBe(2);
  expect(configured.err).toContain(
    `source clinic-a is still in the sources file (${configFile}): remove it there first`,
  );
  expect(await resourcesOf('clinic-a')).toBeGreaterThan(0);

  expect((await cli()).err).toContain('purge needs one of --older-than <days> or --source <id>');
  expect((await cli('--older-than', '30', '--source', 'x')).err).toContain(
    'purge needs one of --older-than <days> or --source <id>',
  );
  expect((await cli('--older-than', '30', '--yes')).err).toContain('--yes goes with --source');
});
