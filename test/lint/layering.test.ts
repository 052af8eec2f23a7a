/**
 * The floors of src/ are pinned by lint: an import of a higher floor fails, one of a lower floor passes;
 * and so are the sizes of its rooms: a module over 400 lines or a function over 80 fails.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../helpers/cli';

function lint(filePath: string, text: string): { status: number | null; out: string } {
  const res = spawnSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js'), '--stdin', '--stdin-filename', filePath],
    { cwd: ROOT, input: text, encoding: 'utf8', timeout: 60_000 },
  );
  return { status: res.status, out: `${res.stdout}${res.stderr}` };
}

test.each([
  [
    'src/store/upward.ts',
    "import { syncSource } from '../sync/run';\nexport const x = syncSource;\n",
    'store is on floor 2',
  ],
  [
    'src/validation/upward.ts',
    "import { loadConfig } from '../config/load';\nexport const x = loadConfig;\n",
    'validation is on floor 1',
  ],
  [
    'src/mapping/upward.ts',
    "import { FhirClient } from '../fhir/client';\nexport const x = FhirClient;\n",
    'mapping is on floor 4',
  ],
  [
    'src/new-helper.ts',
    "import { Store } from './store/store';\nexport const x = Store;\n",
    'a top-level module is on floor 0',
  ],
  [
    'src/sandbox/upward.ts',
    "import { createApiApp } from '../api/app';\nexport const x = createApiApp;\n",
    'sandbox is on floor 10',
  ],
])('an upward import from %s fails lint', (file, text, says) => {
  const res = lint(file, text);
  expect(res.status).toBe(1);
  expect(res.out).toContain('no-restricted-imports');
  expect(res.out).toContain(says);
});

test('a downward import passes', () => {
  expect(
    lint(
      'src/fhir/downward.ts',
      "import { Store } from '../store/store';\nimport { outcome } from '../errors';\nexport const x = [Store, outcome];\n",
    ).status,
  ).toBe(0);
});

test('a function over 80 lines, or a module over 400, fails lint in src/ and web/src/', () => {
  const body = Array.from({ length: 81 }, (_, i) => `  const v${i} = ${i};`).join('\n');
  const long = lint('src/fhir/long.ts', `export function long(): number {\n${body}\n  return v80;\n}\n`);
  expect(long.status).toBe(1);
  expect(long.out).toContain('max-lines-per-function');
  const lines = Array.from({ length: 401 }, (_, i) => `export const c${i} = ${i};`).join('\n');
  const big = lint('web/src/views/big.ts', `${lines}\n`);
  expect(big.status).toBe(1);
  expect(big.out).toContain('max-lines');
  expect(lint('src/fhir/short.ts', 'export function short(): number {\n  return 1;\n}\n').status).toBe(0);
});
