/**
 * The commands' option parsing, in-process (runCli with an injected terminal): a bad value is a usage
 * error (exit 2) naming the option before any work starts; the parsers keep what they should.
 */
import { runCli } from '../../src/cli/program';
import { parseSizes } from '../../src/cli/bench-report';
import { firstKeyFile, serveOptions } from '../../src/cli/serve-options';
import { parseWholeNumber } from '../../src/cli/commands/sandbox';
import { loadConfig } from '../../src/config/load';
import { parseQuirksArg } from '../../src/sandbox/quirks';
import type { Store } from '../../src/store/store';

async function cli(...args: string[]): Promise<{ code: number; err: string; out: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['node', 'fhir-engage', ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    isTTY: false,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test.each([
  [['sandbox', '--patients', 'ten'], "option '-n, --patients <n>' argument 'ten' is invalid. must be a whole number"],
  [['sandbox', '--port', '-1'], "option '-p, --port <port>' argument '-1' is invalid"],
  [
    ['start', '--simulate-days', '1.5'],
    "option '--simulate-days <n>' argument '1.5' is invalid. must be a whole number",
  ],
  [['bench', '--write-back-size', 'x'], "option '--write-back-size <n>' argument 'x' is invalid"],
  [['sync', '--no-such-flag'], "unknown option '--no-such-flag'"],
])('fhir-engage %j is a usage error naming the option', async (args, says) => {
  const res = await cli(...args);
  expect(res.code).toBe(2);
  expect(res.err).toContain(says);
});

test('sandbox --auth outside the known modes is a usage error listing them', async () => {
  const res = await cli('sandbox', '--auth', 'kerberos', '--port', '0');
  expect(res.code).toBe(2);
  expect(res.err).toMatch(/--auth must be one of open, .*smart-backend/);
});

test('parseWholeNumber takes digits only', () => {
  expect(parseWholeNumber('0')).toBe(0);
  expect(parseWholeNumber('8090')).toBe(8090);
  for (const bad of ['', '-1', '1e3', '0x10', ' 5'])
    expect(() => parseWholeNumber(bad)).toThrow('must be a whole number');
});

test('--quirks: flags, numbers, lists (numeric lists stay numbers), one-item lists for list quirks', () => {
  expect(
    parseQuirksArg(
      'maxPageSize=10, opaqueNextLinks ,requirePatientFor=Appointment+QuestionnaireResponse,errorStatuses=502+503',
    ),
  ).toEqual({
    maxPageSize: 10,
    opaqueNextLinks: true,
    requirePatientFor: ['Appointment', 'QuestionnaireResponse'],
    errorStatuses: [502, 503],
  });
  expect(parseQuirksArg('requirePatientFor=Appointment').requirePatientFor).toEqual(['Appointment']);
});

test('bench --sizes keeps positive whole numbers', () => {
  expect(parseSizes('1000, 10000,0,-5,abc,2.5')).toEqual([1000, 10000]);
});

test('serve options: flags over the environment; a first key goes to an owner-only file only off a terminal', () => {
  const config = loadConfig({ env: { FHIR_ENGAGE_PORT: '9001', FHIR_ENGAGE_KEYS_DIR: '/srv/keys' }, cwd: '/tmp' });
  const io = { out: () => undefined, err: () => undefined, isTTY: false };
  const store = {} as Store;
  expect(serveOptions(store, config, io, {}).port).toBe(9001);
  expect(serveOptions(store, config, io, { port: 0, host: '0.0.0.0' })).toMatchObject({ port: 0, host: '0.0.0.0' });
  expect(firstKeyFile(config, false)).toBe('/srv/keys/first-start-api-key.txt');
  expect(firstKeyFile(config, true)).toBeUndefined();
});
