/**
 * What stderr carries when it is not a terminal: one format per stream. `sync` with stderr to a file:
 * by default (and with --log-format json) every line is a JSON record — the command's messages, its
 * progress with figures as fields, the logger's records; with --log-format pretty no line is JSON,
 * and the logger's records are lines for a person among the progress (the write-back counter too).
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logFormatOf, prettyLine } from '../../src/cli/log-format';
import type { SandboxServer } from '../../src/sandbox/server';
import { ROOT } from '../helpers/cli';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';

let emr: SandboxServer;
let dir: string;
beforeAll(async () => {
  emr = await seededSandbox({ patients: 8, seed: 4 });
  dir = mkdtempSync(path.join(os.tmpdir(), 'fe-logfmt-'));
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    `sources:\n  - id: lf\n    baseUrl: ${emr.baseUrl}\n    approval: { firstRun: write }\n`,
  );
});
afterAll(() => emr.close());

/** Runs the CLI with stderr going to a file (not a terminal, not a pipe we read), as a scheduler's job would. */
async function syncToFile(name: string, args: string[], env: Record<string, string> = {}): Promise<string[]> {
  const file = path.join(dir, `${name}.stderr`);
  const fd = openSync(file, 'w');
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'fhir-engage.js'), ...args], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LOG_LEVEL: 'info',
        FHIR_ENGAGE_DATA_DIR: path.join(dir, `data-${name}`),
        ...env,
      },
      stdio: ['ignore', 'ignore', fd],
    });
    child.on('exit', resolve);
  });
  closeSync(fd);
  expect(code).toBe(0);
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

const isJson = (line: string): boolean => {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};

test('stderr to a file: every line is a JSON record, progress and write-back figures as fields', async () => {
  const lines = await syncToFile('json', ['sync', '--as-of', TEST_ANCHOR]);
  expect(lines.length).toBeGreaterThan(5);
  expect(lines.filter((l) => !isJson(l))).toEqual([]);
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(records.every((r) => r.service === 'fhir-engage' && typeof r.level === 'number')).toBe(true);
  expect(records.find((r) => r.msg === 'type pulled' && r.type === 'Patient')).toMatchObject({
    status: 'ok',
    mode: 'full',
    received: expect.any(Number),
    pages: expect.any(Number),
  });
  const writes = records.find((r) => r.msg === 'writes sent');
  expect(writes).toMatchObject({ done: expect.any(Number), total: expect.any(Number) });
  expect(writes?.done).toBeGreaterThan(0);
  expect(records.some((r) => r.msg === 'sync run finished')).toBe(true);
  // --log-format json says the same as the default when stderr is not a terminal.
  const asked = await syncToFile('json2', ['sync', '--log-format', 'json', '--as-of', TEST_ANCHOR]);
  expect(asked.filter((l) => !isJson(l))).toEqual([]);
}, 120_000);

test('--log-format pretty (or LOG_FORMAT=pretty): no line is JSON; log records are lines for a person; the write-back counter', async () => {
  const lines = await syncToFile('pretty', ['sync', '--log-format', 'pretty', '--as-of', TEST_ANCHOR]);
  expect(lines.filter(isJson)).toEqual([]);
  expect(lines.some((l) => /^ {2}Patient: ok — \d+ page\(s\), \d+ received/.test(l))).toBe(true);
  expect(lines.some((l) => /^ {2}writes: \d+ of \d+ sent to the EMR \(\d+\/s\)$/.test(l))).toBe(true);
  expect(lines.some((l) => l.startsWith('info: sync run finished (') && l.includes('status=succeeded'))).toBe(true);
  const byEnv = await syncToFile('pretty-env', ['sync', '--as-of', TEST_ANCHOR], { LOG_FORMAT: 'pretty' });
  expect(byEnv.filter(isJson)).toEqual([]);
}, 120_000);

test('an unknown format is a usage error naming where it came from', () => {
  expect(logFormatOf(['sync'], {}, true)).toBe('pretty');
  expect(logFormatOf(['sync'], {}, false)).toBe('json');
  expect(logFormatOf(['sync', '--log-format=pretty'], { LOG_FORMAT: 'json' }, false)).toBe('pretty');
  expect(() => logFormatOf(['sync', '--log-format', 'xml'], {}, false)).toThrow(
    '--log-format must be json or pretty; got "xml"',
  );
  expect(() => logFormatOf([], { LOG_FORMAT: 'yaml' }, false)).toThrow('LOG_FORMAT must be json or pretty; got "yaml"');
  expect(prettyLine({ level: 40, time: 't', service: 'fhir-engage', msg: 'slow answer', sourceId: 'a', ms: 900 })).toBe(
    'warn: slow answer (sourceId=a, ms=900)',
  );
});
