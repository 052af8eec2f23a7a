/** The Bulk Data client against nock-mocked servers: kick-off, polling (fake clock), manifest checks, files, NDJSON lines. */
import nock from 'nock';
import { guardNock } from '../helpers/nock-guard';
import { FhirClient } from '../../src/fhir/client';
import {
  cancelExport,
  ExportGone,
  kickOff,
  kickOffPath,
  openFile,
  parseManifest,
  waitForManifest,
} from '../../src/fhir/bulk';
import { ndjsonLines } from '../../src/fhir/ndjson';
import { choosePullMethod } from '../../src/fhir/bulk-pull';
import { assessCapabilities } from '../../src/fhir/capabilities';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import { FakeClock } from '../helpers/fake-clock';

const BASE = 'https://emr.test/fhir/r4';
const STATUS = 'https://emr.test/bulkstatus/job-1';
const manifest = {
  transactionTime: '2026-06-01T00:00:00Z',
  request: `${BASE}/$export`,
  requiresAccessToken: true,
  output: [{ type: 'Patient', url: 'https://files.test/1.ndjson', count: 2 }],
  error: [],
};

function client(clock = new FakeClock()): FhirClient {
  return new FhirClient({
    baseUrl: BASE,
    auth: { type: 'bearer', token: 'tok' },
    maxRetries: 2,
    requestsPerSecond: 1000,
    concurrency: 4,
    clock,
    random: () => 0.5,
    allowedOrigins: ['https://files.test'],
  });
}

async function* chunksOf(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? new TextEncoder().encode(p) : p;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

guardNock();

describe('kick-off', () => {
  test('sends Prefer: respond-async with _type, _since and _typeFilter, and returns the absolute status URL', async () => {
    expect(
      kickOffPath({
        level: 'group',
        groupId: 'cohort-1',
        types: ['Patient', 'Appointment'],
        since: '2026-05-01T00:00:00Z',
        typeFilter: ['Appointment?status=booked'],
      }),
    ).toBe(
      'Group/cohort-1/$export?_outputFormat=application%2Ffhir%2Bndjson&_type=Patient%2CAppointment&_since=2026-05-01T00%3A00%3A00Z&_typeFilter=Appointment%3Fstatus%3Dbooked',
    );
    nock(BASE, { reqheaders: { prefer: 'respond-async', authorization: 'Bearer tok' } })
      .get('/Patient/$export')
      .query({ _outputFormat: 'application/fhir+ndjson', _type: 'Patient' })
      .reply(202, '', { 'Content-Location': '/bulkstatus/job-1' });
    expect(await kickOff(client(), { level: 'patient', types: ['Patient'] })).toBe(STATUS);
  });

  test('a refusal is an error naming the URL (without query values) and what the server said about the request', async () => {
    nock(BASE)
      .get('/$export')
      .query(true)
      .reply(403, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'forbidden', diagnostics: 'scope system/*.read missing' }],
      });
    await expect(kickOff(client(), { level: 'system', types: ['Patient'] })).rejects.toThrow(
      'the export kick-off https://emr.test/fhir/r4/$export?_outputFormat=(hidden)&_type=(hidden) was refused: HTTP 403 — the server says: scope system/*.read missing',
    );
  });

  test("a 400 to a _type the server does not offer shows the server's own message", async () => {
    nock(BASE)
      .get('/$export')
      .query(true)
      .reply(400, {
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'error',
            code: 'not-supported',
            details: { text: '_type names types this export cannot include: CarePlan' },
          },
        ],
      });
    await expect(kickOff(client(), { level: 'system', types: ['Patient', 'CarePlan'] })).rejects.toThrow(
      'was refused: HTTP 400 — the server says: _type names types this export cannot include: CarePlan',
    );
  });

  test('a 202 without Content-Location is a clear error', async () => {
    nock(BASE).get('/$export').query(true).reply(202, '');
    await expect(kickOff(client(), { level: 'system', types: ['Patient'] })).rejects.toThrow(
      'answered 202 without a Content-Location',
    );
  });
});

describe('polling', () => {
  test('waits as long as Retry-After says (at least 1 s), reports X-Progress, and returns the manifest', async () => {
    const clock = new FakeClock();
    const progress: (string | undefined)[] = [];
    nock('https://emr.test')
      .get('/bulkstatus/job-1')
      .reply(202, '', { 'Retry-After': '5', 'X-Progress': '10% done' })
      .get('/bulkstatus/job-1')
      .reply(202, '', { 'Retry-After': '0', 'X-Progress': '80% done' })
      .get('/bulkstatus/job-1')
      .reply(200, manifest);
    const got = await waitForManifest(client(clock), STATUS, {
      clock,
      timeoutMs: 3_600_000,
      onProgress: (p) => progress.push(p),
    });
    expect(got.output).toEqual(manifest.output);
    expect(clock.sleeps).toEqual([5000, 1000]);
    expect(progress).toEqual(['10% done', '80% done']);
  });

  test('a 429 while polling slows down and goes on (the transport waits Retry-After, then polling doubles its interval)', async () => {
    const clock = new FakeClock();
    nock('https://emr.test')
      .get('/bulkstatus/job-1')
      .times(3)
      .reply(429, '', { 'Retry-After': '3' })
      .get('/bulkstatus/job-1')
      .reply(200, manifest);
    const got = await waitForManifest(client(clock), STATUS, { clock, timeoutMs: 3_600_000, defaultIntervalMs: 2000 });
    expect(got.transactionTime).toBe('2026-06-01T00:00:00Z');
    // Two transport retries of 3 s, then the poll itself backs off: 2 s doubled.
    expect(clock.sleeps).toEqual([3000, 3000, 4000]);
  });

  test('past the poll timeout the export is cancelled (DELETE) and the error names the setting', async () => {
    const clock = new FakeClock();
    nock('https://emr.test')
      .get('/bulkstatus/job-1')
      .times(2)
      .reply(202, '', { 'Retry-After': '60' })
      .delete('/bulkstatus/job-1')
      .reply(202);
    await expect(waitForManifest(client(clock), STATUS, { clock, timeoutMs: 90_000 })).rejects.toThrow(
      'the export did not complete within 90 s (pull.bulk.pollTimeoutSeconds); it was cancelled',
    );
  });

  test('an export the server no longer knows (404/410) is ExportGone; cancel accepts either', async () => {
    nock('https://emr.test').get('/bulkstatus/job-1').reply(410).delete('/bulkstatus/job-1').reply(404);
    await expect(
      waitForManifest(client(), STATUS, { clock: new FakeClock(), timeoutMs: 60_000 }),
    ).rejects.toBeInstanceOf(ExportGone);
    await expect(cancelExport(client(), STATUS)).resolves.toBeUndefined();
  });
});

describe('manifest and files', () => {
  test('a manifest without transactionTime, or with a relative file URL, is refused with the field named', () => {
    expect(() => parseManifest({ output: [] }, STATUS)).toThrow('has no valid transactionTime');
    expect(() => parseManifest({ ...manifest, output: [{ type: 'Patient', url: '/1.ndjson' }] }, STATUS)).toThrow(
      'output[0].url is not an absolute URL',
    );
    expect(parseManifest({ ...manifest, error: undefined, requiresAccessToken: false }, STATUS)).toMatchObject({
      error: [],
      requiresAccessToken: false,
    });
  });

  test('files get the token only when requiresAccessToken; a Range request resumes; an expired file is ExportGone', async () => {
    nock('https://files.test', { badheaders: ['authorization'] })
      .get('/1.ndjson')
      .reply(200, '{"resourceType":"Patient","id":"a"}\n');
    const open = await openFile(client(), 'https://files.test/1.ndjson', false, 0);
    expect(open.fromStart).toBe(true);
    expect((await collect(ndjsonLines(open.response.chunks!))).map((l) => l.text)).toEqual([
      '{"resourceType":"Patient","id":"a"}',
    ]);

    nock('https://files.test', { reqheaders: { authorization: 'Bearer tok', range: 'bytes=36-' } })
      .get('/1.ndjson')
      .reply(206, '{"resourceType":"Patient","id":"b"}\n');
    const resumed = await openFile(client(), 'https://files.test/1.ndjson', true, 36);
    expect(resumed.fromStart).toBe(false);
    expect(await collect(ndjsonLines(resumed.response.chunks!, { line: 1, byte: 36 }))).toEqual([
      { line: 2, text: '{"resourceType":"Patient","id":"b"}', endByte: 72 },
    ]);

    nock('https://files.test').get('/1.ndjson').reply(410);
    await expect(openFile(client(), 'https://files.test/1.ndjson', true, 0)).rejects.toThrow(
      'the export file https://files.test/1.ndjson is no longer available on the server (HTTP 410); a new export is needed',
    );
  });
});

describe('NDJSON lines', () => {
  test('splits on bytes: a character cut between chunks survives; CRLF, blank lines and a last line without newline are handled', async () => {
    const euro = new TextEncoder().encode('{"a":"€"}\n');
    const lines = await collect(
      ndjsonLines(chunksOf(euro.subarray(0, 7), euro.subarray(7), '\r\n{"b":1}\r\n', '{"c":', '2}')),
    );
    expect(lines).toEqual([
      { line: 1, text: '{"a":"€"}', endByte: 12 },
      { line: 3, text: '{"b":1}', endByte: 23 },
      { line: 4, text: '{"c":2}', endByte: 30 },
    ]);
  });

  test('skips the lines already committed when the server sends the file from the start again', async () => {
    const lines = await collect(ndjsonLines(chunksOf('{"n":1}\n{"n":2}\n{"n":3}\n'), { line: 0, byte: 0 }, 2));
    expect(lines).toEqual([{ line: 3, text: '{"n":3}', endByte: 24 }]);
  });
});

describe('when a run uses Bulk Data', () => {
  const facts = { forced: false, full: false, exportAdvertised: true, typesWithoutWatermark: 0, exportUnderWay: false };
  const source = (method: 'search' | 'bulk' | 'auto') => ({
    pull: { method, bulk: { level: 'system' as const, pollTimeoutSeconds: 60, parallelDownloads: 2 } },
  });
  test('auto: bulk for a first load or --full when the server advertises $export, and to finish an export under way; searches otherwise', () => {
    expect(choosePullMethod(source('auto'), { ...facts, typesWithoutWatermark: 1 })).toBe('bulk');
    expect(choosePullMethod(source('auto'), { ...facts, full: true })).toBe('bulk');
    expect(choosePullMethod(source('auto'), facts)).toBe('search');
    expect(choosePullMethod(source('auto'), { ...facts, typesWithoutWatermark: 4, exportAdvertised: false })).toBe(
      'search',
    );
    expect(choosePullMethod(source('auto'), { ...facts, exportUnderWay: true })).toBe('bulk');
    expect(choosePullMethod(source('search'), { ...facts, typesWithoutWatermark: 4 })).toBe('search');
    expect(choosePullMethod(source('search'), { ...facts, forced: true })).toBe('bulk');
    expect(choosePullMethod(source('bulk'), { ...facts, exportAdvertised: false })).toBe('bulk');
  });

  test('what concerns searches only is said apart: a bulk run does not warn that a type it exports cannot be searched', () => {
    const statement: CapabilityStatement = {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: '2026-01-01',
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: ['json'],
      rest: [
        {
          mode: 'server',
          resource: [
            { type: 'Patient', interaction: [{ code: 'read' }] },
            {
              type: 'Appointment',
              interaction: [{ code: 'search-type' }],
              searchParam: [{ name: 'date', type: 'date' }],
            },
          ],
        },
      ],
    };
    const caps = assessCapabilities(statement, ['Patient', 'Appointment', 'CarePlan']);
    expect(caps.types.Patient).toMatchObject({ listed: true, searchable: false });
    expect(caps.types.CarePlan).toMatchObject({ listed: false });
    expect(caps.warnings).toEqual(["CarePlan: not listed in the server's CapabilityStatement; it will not be pulled"]);
    expect(caps.searchWarnings).toEqual([
      'Patient: the server does not support search (search-type); it will not be pulled',
      'Appointment: no _lastUpdated search; falling back to a full pull each run (unchanged resources are still skipped by content hash)',
    ]);
  });

  test('the CapabilityStatement advertises export at system level or on Patient/Group', () => {
    const statement = (rest: object): CapabilityStatement => ({
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: '2026-01-01',
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: ['json'],
      rest: [{ mode: 'server', ...rest }],
    });
    expect(
      assessCapabilities(
        statement({
          operation: [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' }],
        }),
        [],
      ).bulkExport,
    ).toBe(true);
    expect(
      assessCapabilities(
        statement({
          resource: [
            {
              type: 'Group',
              operation: [
                {
                  name: 'group-export',
                  definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export',
                },
              ],
            },
          ],
        }),
        [],
      ).bulkExport,
    ).toBe(true);
    expect(
      assessCapabilities(
        statement({
          operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }],
        }),
        [],
      ).bulkExport,
    ).toBe(false);
  });
});
