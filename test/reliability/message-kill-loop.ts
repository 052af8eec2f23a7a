/**
 * Kill -9 loop over the send stage of messages (docs/messaging.md, "Exactly once"): each day two visits
 * are booked for tomorrow for patients with a mobile phone; the day's `fhir-engage sync` (SMS through the
 * sandbox's Twilio stand-in, behind a proxy) is killed at a step chosen in turn — before the provider call
 * reaches the provider, after the provider made the message but before fhir-engage heard its answer,
 * after the answer's id was stored (at the next message's call) — then the scheduler's next tick (a clean
 * run an hour later) and, at the end, one more. Counted at the provider: duplicate messages (the same
 * text to the same number twice) and lost reminders (a planted visit with no message).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Appointment, Patient } from '@medplum/fhirtypes';
import { Random } from '../../src/sandbox/random';
import { SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN } from '../../src/sandbox/sms-provider';
import { openStore } from '../../src/store/open';
import { seededSandbox } from '../helpers/sandbox';
import { dropSchema } from '../helpers/drivers';
import { spawnCli, startKillProxy, type ProxyDecision } from './proc';

export const SEND_STEPS = ['before-call', 'after-call', 'after-store'] as const;
type Step = (typeof SEND_STEPS)[number];

export interface MessageKillResult {
  store: string;
  runs: number;
  killed: Record<Step, number>;
  completed: number;
  planted: number;
  sent: number;
  duplicates: number;
  lost: number;
  finalExit: number | null;
}

const DAY = 86_400_000;
const NOON = Date.parse('2026-06-01T12:00:00.000Z');

/** The day's visits: tomorrow 14:00 and 15:00 UTC, for two patients with a mobile phone, in turn. */
async function plant(
  emr: Awaited<ReturnType<typeof seededSandbox>>,
  day: number,
  mobiles: Patient[],
): Promise<{ start: string; to: string; hour: number }[]> {
  const visits: { start: string; to: string; hour: number }[] = [];
  for (const [k, hour] of [14, 15].entries()) {
    const patient = mobiles[(2 * day + k) % mobiles.length] as Patient;
    const start = new Date(NOON + (day + 1) * DAY + (hour - 12) * 3_600_000).toISOString();
    await emr.repo.createResource<Appointment>({
      resourceType: 'Appointment',
      id: `kill-visit-${day}-${k}`,
      status: 'booked',
      start,
      end: new Date(Date.parse(start) + 1_800_000).toISOString(),
      participant: [{ actor: { reference: `Patient/${patient.id}` }, status: 'accepted' }],
    } as Appointment);
    const phone = patient.telecom?.find((t) => t.system === 'phone' && t.use === 'mobile')?.value ?? '';
    visits.push({ start, to: `+1${phone.replace(/\D/g, '')}`, hour });
  }
  return visits;
}

export async function messageKillLoop(options: {
  store: 'pglite' | 'postgres';
  runs: number;
  seed: number;
  pgUrl?: string;
  onRun?: (run: number, step: Step, killed: boolean) => void;
}): Promise<MessageKillResult> {
  const rng = new Random(options.seed);
  const emr = await seededSandbox(
    { patients: 12, seed: options.seed % 1000, fixtures: false },
    { sms: { failureRate: 0, seed: options.seed } },
  );
  // Status callbacks are answered and dropped: this loop counts what reached the provider.
  const sink = http.createServer((_req, res) => res.writeHead(204).end());
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(path.join(os.tmpdir(), `fe-msgkill-${options.store}-`));
  const schema = `rel_msgkill_${process.pid}`;
  const env: Record<string, string> =
    options.store === 'postgres'
      ? { DATABASE_URL: options.pgUrl!, DATABASE_SCHEMA: schema }
      : { FHIR_ENGAGE_DATA_DIR: path.join(dir, 'data') };
  let current: (() => void) | undefined;
  let decide: (req: { method: string; url: string }) => ProxyDecision = () => 'forward';
  const origin = new URL(emr.baseUrl).origin;
  const proxy = await startKillProxy(
    `${origin}/twilio`,
    (req) => decide(req),
    () => current?.(),
  );
  writeFileSync(
    path.join(dir, 'fhir-engage.config.yaml'),
    [
      'messaging:',
      `  publicUrl: http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
      '  clinic: { name: Riverside Clinic, phone: "555-0100" }',
      `  unsubscribeSecret: ${'s'.repeat(40)}`,
      '  sms:',
      `    apiBaseUrl: ${proxy.url}`,
      `    accountSid: ${SANDBOX_ACCOUNT_SID}`,
      `    authToken: ${SANDBOX_AUTH_TOKEN}`,
      '    from: "+15550000000"',
      '    defaultCountryCode: "+1"',
      '    messagesPerSecond: 50',
      'sources:',
      '  - id: texted',
      `    baseUrl: ${emr.baseUrl}`,
      '    approval: { firstRun: write }',
      '    delivery: direct',
      '    phasedStart: { days: 0 }',
      '    rateLimit: { requestsPerSecond: 500, concurrency: 2 }',
      '',
    ].join('\n'),
  );
  const mobiles = (emr.repo.all('Patient') as Patient[]).filter((p) =>
    p.telecom?.some((t) => t.system === 'phone' && t.use === 'mobile'),
  );
  const planted: { start: string; to: string; hour: number }[] = [];
  const killed: Record<Step, number> = { 'before-call': 0, 'after-call': 0, 'after-store': 0 };
  let completed = 0;
  try {
    for (let i = 0; i < options.runs; i++) {
      const step = SEND_STEPS[i % SEND_STEPS.length] as Step;
      planted.push(...(await plant(emr, i, mobiles)));
      const asOf = new Date(NOON + i * DAY + rng.int(0, 30) * 60_000).toISOString();
      const run = spawnCli(['sync', '--as-of', asOf], env, dir);
      let fired = false;
      current = () => {
        if (fired) return;
        fired = true;
        run.child.kill('SIGKILL');
      };
      let posts = 0;
      decide = (req) => {
        if (fired || req.method !== 'POST') return 'forward';
        posts++;
        if (step === 'before-call') return 'kill-before';
        if (step === 'after-call') return 'kill-after';
        // After the first message's id was stored: at the next message's call.
        return posts >= 2 ? 'kill-before' : 'forward';
      };
      const res = await run.done;
      if (res.signal === 'SIGKILL') killed[step]++;
      else completed++;
      options.onRun?.(i + 1, step, res.signal === 'SIGKILL');
      current = undefined;
      decide = () => 'forward';
      // The scheduler's next tick, an hour later.
      await spawnCli(['sync', '--as-of', new Date(Date.parse(asOf) + 3_600_000).toISOString()], env, dir).done;
    }
    const last = new Date(NOON + options.runs * DAY).toISOString();
    const final = await spawnCli(['sync', '--as-of', last], env, dir).done;
    await emr.sms.settled();
    const texts = emr.sms.messages;
    // Every text at the provider is one message of fhir-engage's (by its id there); one that is none is a
    // second sending of a message (two reminders of one visit may read alike: the text is not the test).
    const store = await openStore({
      dataDir: path.join(dir, 'data'),
      schema: options.store === 'postgres' ? schema : 'public',
      ...(options.store === 'postgres' ? { databaseUrl: options.pgUrl! } : {}),
    });
    let duplicates = 0;
    try {
      for (const m of texts) if (!(await store.knowsProviderId(m.sid))) duplicates++;
    } finally {
      await store.close();
    }
    // A planted visit is reminded when a text to the patient's number names its day of the month and
    // its hour (in the patient's language: "2:00 PM", "14:00").
    const lost = planted.filter((p) => {
      const d = new Date(p.start).getUTCDate();
      return !texts.some(
        (m) =>
          m.to === p.to &&
          new RegExp(`\\b${d}\\b`).test(m.body) &&
          (m.body.includes(`${p.hour}:00`) || m.body.includes(` ${p.hour - 12}:00`)),
      );
    }).length;
    return {
      store: options.store,
      runs: options.runs,
      killed,
      completed,
      planted: planted.length,
      sent: texts.length,
      duplicates,
      lost,
      finalExit: final.code,
    };
  } finally {
    await proxy.close();
    await emr.close();
    await new Promise<void>((resolve) => sink.close(() => resolve()));
    if (options.store === 'postgres') await dropSchema(options.pgUrl!, schema);
  }
}
