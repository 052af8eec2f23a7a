/** The run summary in the terminal: what went to patients, said in words (docs/messaging.md). */
import { formatSummary } from '../../src/cli/format';
import { newTransportStats } from '../../src/fhir/source-client';
import type { MessagingSummary } from '../../src/messaging/stage';
import { newSummary } from '../../src/sync/run-summary';
import { testSource } from '../helpers/source';

const messages = (over: Partial<MessagingSummary>): MessagingSummary => ({
  statuses: 0,
  optOuts: 0,
  optIns: 0,
  help: 0,
  replies: 0,
  sent: 0,
  delivered: 0,
  failed: 0,
  cancelled: 0,
  retried: 0,
  reconciled: 0,
  planned: 0,
  recorded: 0,
  skipped: {},
  ...over,
});

const summary = (m?: MessagingSummary) => {
  const s = newSummary(
    'r1',
    testSource({ baseUrl: 'http://emr.example/fhir' }),
    { asOf: new Date() },
    [],
    newTransportStats(),
  );
  if (m) s.messages = m;
  return formatSummary(s).filter((l) => l.startsWith('messages to patients'));
};

test('the messages line: texts and emails sent, reports applied, failures, consent and replies; none when nothing happened', () => {
  expect(summary(messages({ sent: 3, delivered: 1, statuses: 2, failed: 1, optOuts: 1, replies: 2 }))).toEqual([
    'messages to patients: 3 sent (1 of them emails the server accepted), 2 delivery report(s) applied, 1 failed, 0 cancelled before sending, 0 to try again; 1 opt-out(s), 0 opt-in(s), 2 reply(ies)',
  ]);
  expect(summary(messages({ statuses: 5 }))).toEqual([
    'messages to patients: 0 sent, 5 delivery report(s) applied, 0 failed, 0 cancelled before sending, 0 to try again; 0 opt-out(s), 0 opt-in(s), 0 reply(ies)',
  ]);
  expect(summary(messages({}))).toEqual([]);
  expect(summary()).toEqual([]);
});
