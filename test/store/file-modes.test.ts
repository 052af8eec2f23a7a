/**
 * The embedded store, the keys directory and a first-start API key are readable by their owner only:
 * every row and the write-ahead log are in the store's files. Set at creation, checked at every start.
 */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { restrictToOwner } from '../../src/owner-only';
import { migrate } from '../../src/store/migrate';
import { openPglite } from '../../src/store/pglite-driver';
import { Store } from '../../src/store/store';
import { storedKeys } from '../../src/scheduler/serve';
import { runCliProcess } from '../helpers/cli';
import { memoryStore } from '../helpers/store';

/** Every entry under `root` whose mode is not 0700 (directory) or 0600 (file), with its mode. */
function notOwnerOnly(root: string): string[] {
  const out: string[] = [];
  const walk = (at: string): void => {
    const s = statSync(at);
    const mode = s.mode & 0o777;
    if (mode !== (s.isDirectory() ? 0o700 : 0o600)) out.push(`${mode.toString(8)} ${path.relative(root, at) || '.'}`);
    if (s.isDirectory()) for (const name of readdirSync(at)) walk(path.join(at, name));
  };
  walk(root);
  return out;
}

const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'fe-modes-'));

test('a fresh embedded store: the data directory and every file and directory in it are owner-only, while open and after close', async () => {
  const dataDir = path.join(tmp(), 'data');
  const driver = await openPglite({ dataDir });
  await migrate(driver);
  const store = new Store(driver, driver);
  await store.upsertSource({ id: 's', baseUrl: 'https://ehr.test' });
  expect(statSync(dataDir).mode & 0o777).toBe(0o700);
  await store.close();
  const files = readdirSync(dataDir, { recursive: true }).length;
  expect(files).toBeGreaterThan(500);
  expect(notOwnerOnly(dataDir)).toEqual([]);
});

test('a store opened wider (an old installation) is made owner-only at start, and said', async () => {
  const dataDir = path.join(tmp(), 'data');
  await (await openPglite({ dataDir })).close();
  chmodSync(dataDir, 0o755);
  const some = path.join(dataDir, 'PG_VERSION');
  chmodSync(some, 0o666);
  expect(restrictToOwner(dataDir).length).toBeGreaterThanOrEqual(2);
  chmodSync(dataDir, 0o755);
  chmodSync(some, 0o644);
  const res = runCliProcess(['db', 'migrate'], { env: { FHIR_ENGAGE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' } });
  expect(res.status).toBe(0);
  expect(res.stderr).toContain(`the embedded store ${dataDir} was open to other local users`);
  expect(notOwnerOnly(dataDir)).toEqual([]);
});

test('keys generate makes the keys directory owner-only (an existing one too) and the key 0600', () => {
  const keysDir = path.join(tmp(), 'keys');
  mkdirSync(keysDir, { mode: 0o755 });
  chmodSync(keysDir, 0o755);
  const res = runCliProcess(['keys', 'generate', '--kid', 'k1'], { env: { FHIR_ENGAGE_KEYS_DIR: keysDir } });
  expect(res.status).toBe(0);
  expect(notOwnerOnly(keysDir)).toEqual([]);
});

test('a first-start API key is written owner-only when messages go to a log, and not said there', async () => {
  const store = await memoryStore();
  try {
    const file = path.join(tmp(), 'keys', 'first-start-api-key.txt');
    const said: string[] = [];
    await storedKeys(store, (l) => said.push(l), file);
    const key = readFileSync(file, 'utf8').trim();
    expect(key).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(said.join('\n')).toContain(`It is in ${file} (mode 0600, this user only)`);
    expect(said.join('\n')).not.toContain(key);
  } finally {
    await store.close();
  }
});

test('restrictToOwner leaves symbolic links alone and reports what was wider', () => {
  const dir = tmp();
  writeFileSync(path.join(dir, 'a'), 'x', { mode: 0o644 });
  chmodSync(path.join(dir, 'a'), 0o644);
  symlinkSync('/etc/passwd', path.join(dir, 'link'));
  const before = statSync('/etc/passwd').mode;
  expect(restrictToOwner(dir)).toEqual(expect.arrayContaining([path.join(dir, 'a')]));
  expect(statSync('/etc/passwd').mode).toBe(before);
  expect(statSync(path.join(dir, 'a')).mode & 0o777).toBe(0o600);
});
