/** Retry-After with the real clock under jest's fake timers: the retry waits exactly as long as the server asked. */
import nock from 'nock';
import { FhirClient } from '../../src/fhir/client';

const BASE = 'https://emr.test/fhir/r4';

beforeAll(() => nock.disableNetConnect());
afterAll(() => nock.enableNetConnect());
afterEach(() => {
  jest.useRealTimers();
  nock.cleanAll();
});

test('429 with Retry-After: 5 → no second request before 5 s, then success', async () => {
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
  let requests = 0;
  nock(BASE)
    .get('/Patient/p1')
    .reply(() => {
      requests++;
      return [429, '', { 'Retry-After': '5' }];
    })
    .get('/Patient/p1')
    .reply(() => {
      requests++;
      return [200, { resourceType: 'Patient', id: 'p1' }];
    });
  const client = new FhirClient({ baseUrl: BASE, auth: { type: 'none' }, requestsPerSecond: 1000, concurrency: 1 });
  let settled = false;
  const pending = client.getOk('Patient/p1').then((r) => {
    settled = true;
    return r;
  });
  // Let the first exchange happen (I/O completes outside the faked timers).
  for (let i = 0; i < 50 && requests < 1; i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  expect(requests).toBe(1);
  await jest.advanceTimersByTimeAsync(4_999);
  expect(requests).toBe(1);
  expect(settled).toBe(false);
  await jest.advanceTimersByTimeAsync(1);
  for (let i = 0; i < 50 && !settled; i++) await new Promise((r) => setImmediate(r));
  expect(requests).toBe(2);
  expect(await pending).toEqual({ resourceType: 'Patient', id: 'p1' });
});
