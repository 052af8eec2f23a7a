/** Retry-After with a setTimeout-based clock under jest's fake timers: the retry waits exactly as long as the server asked. */
import nock from 'nock';
import { FhirClient } from '../../src/fhir/client';
import { realClock, type Clock } from '../../src/fhir/limiter';
import { guardNock } from '../helpers/nock-guard';

const BASE = 'https://emr.test/fhir/r4';

guardNock();
afterEach(() => jest.useRealTimers());

/** Lets pending I/O callbacks run (they are not faked) until `done()`; bounded, whatever the machine's load. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100_000 && !done(); i++) await new Promise((r) => setImmediate(r));
}

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
  // The real clock's sleep (setTimeout, here faked); the wrapper only tells the test when the wait began.
  const sleeps: number[] = [];
  const clock: Clock = { now: () => Date.now(), sleep: (ms) => (sleeps.push(ms), realClock.sleep(ms)) };
  const client = new FhirClient({
    baseUrl: BASE,
    auth: { type: 'none' },
    requestsPerSecond: 1000,
    concurrency: 1,
    clock,
  });
  let settled = false;
  const pending = client.getOk('Patient/p1').then((r) => {
    settled = true;
    return r;
  });
  await until(() => sleeps.length === 1);
  expect(sleeps).toEqual([5000]);
  await jest.advanceTimersByTimeAsync(4_999);
  expect(requests).toBe(1);
  expect(settled).toBe(false);
  await jest.advanceTimersByTimeAsync(1);
  await until(() => settled);
  expect(requests).toBe(2);
  expect(await pending).toEqual({ resourceType: 'Patient', id: 'p1' });
});
