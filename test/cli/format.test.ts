/** The run summary in the terminal: what went to patients, said in words (docs/messaging.md). */
import { formatSummary } from '../../src/cli/format';
import { progressPrinter } from '../../src/cli/progress';
import { emptyReport } from '../../src/fhir/pull-context';
import { newTransportStats } from '../../src/fhir/source-client';
import type { MessagingSummary } from '../../src/messaging/stage';
import { newSummary, runLine } from '../../src/sync/run-summary';
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

test('summary lines a newcomer meets say what they mean; rates as percent with one decimal', () => {
  const s = newSummary(
    'r2',
    testSource({ baseUrl: 'http://emr.example/fhir' }),
    { asOf: new Date() },
    [],
    newTransportStats(),
  );
  s.writes.Task = {
    created: 4,
    updated: 1,
    cancelled: 0,
    completed: 0,
    unchanged: 0,
    leftToPerson: 3,
    failed: 0,
    retryLater: 2,
  };
  s.programme = {
    ...s.programme,
    medianAdherence: 0.8333,
    phq9ResponseShare: 0.5,
    phq9RemissionShare: 0,
    phq9WithBaseline: 6,
  };
  s.deadLetters = { thisRun: 1, open: 2 };
  const lines = formatSummary(s);
  expect(lines).toContain('   left to a person: Tasks a person has changed in the EMR, which fhir-engage leaves alone');
  expect(lines).toContain('   to retry: the EMR was away or busy; they are sent again at the next run, never twice');
  expect(lines.find((l) => l.startsWith('programme:'))).toContain(
    'median appointment adherence 83.3 %; PHQ-9 response 50.0 % and remission 0.0 % of 6 patient(s) with a baseline score',
  );
  expect(lines.find((l) => l.startsWith('dead letters:'))).toBe(
    'dead letters: 1 this run, 2 open in total (resources or writes that could not be used; `fhir-engage dead-letters` lists them)',
  );
  expect(runLine({ ...s, status: 'succeeded', durationMs: 4200 })).toBe(
    'sync src run r2: SUCCEEDED in 4.2 s: 0 resources received (0 new, 0 changed), 0 patient(s) recomputed, 5 write(s) sent, 3 left to a person (Tasks a person changed), 1 new dead letter(s)',
  );
});

test('progress: a Bulk Data batch says its own counts; a search page its running totals (at a terminal)', () => {
  const drawn: string[] = [];
  const write = jest.spyOn(process.stderr, 'write').mockImplementation((t) => (drawn.push(String(t)), true));
  try {
    const show = progressPrinter({ out: () => undefined, err: () => undefined, isTTY: true }, true);
    const report = { ...emptyReport('Appointment', 'bulk'), pages: 1, received: 500, new: 480, changed: 20 };
    show({ type: 'type-started', resourceType: 'Appointment', mode: 'bulk' });
    show({ type: 'page', resourceType: 'Appointment', report });
    jest.spyOn(performance, 'now').mockReturnValue(performance.now() + 1000);
    show({
      type: 'page',
      resourceType: 'Appointment',
      report: { ...report, pages: 2, received: 800, new: 700, changed: 80, deadLettered: 1 },
    });
  } finally {
    write.mockRestore();
    jest.restoreAllMocks();
  }
  const last = drawn[drawn.length - 1] as string;
  expect(last).toContain('Appointment: batch 2 stored, 300 lines: 220 new, 60 changed, 1 dead-lettered (800 in all,');
});
