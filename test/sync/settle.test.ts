/**
 * A run killed while its writes were on their way (the EMR applied some, fhir-engage never heard),
 * each run a day later: the next run settles those writes before it reads back and plans, so the
 * run after it writes nothing. Found by the reliability suite's kill -9 loop: the next run sent the
 * earlier day's writes after its own plan, and the run after that cancelled them (26 writes).
 */
import { killLoop } from '../reliability/kill-loop';

test('kill -9 while writes are sent and acknowledged, a day apart each time: nothing lost, nothing twice, and the last run writes nothing', async () => {
  const r = await killLoop({ store: 'pglite', runs: 4, seed: 42, stages: ['ack', 'send'] });
  expect(r.killed.ack + r.killed.send).toBeGreaterThanOrEqual(3);
  expect(r.reconciliation).toMatchObject({ lost: 0, duplicates: 0, withoutProvenance: 0 });
  expect(r.finalRunWrites).toBe(0);
}, 300_000);
