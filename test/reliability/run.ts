/**
 * `npm run test:reliability` (`-- --full` for the large run, `-- --seed N` to replay): the
 * reliability and security suite. Prints its figures and writes them to docs/reliability.md;
 * exits 1 when any figure that must be zero is not. PostgreSQL parts run when TEST_DATABASE_URL
 * (or DATABASE_URL) is set. See docs/reliability.md for what each part does.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { OPENAPI } from '../../src/api/openapi';
import { buildDist } from '../../src/cli/bench-steps';
import { phiCanary } from './canary';
import { headline, runCorpus } from './corpus';
import { faultStorm, serveThroughRestart, storeOutage } from './faults';
import { hostileEmr, RSS_BOUND_MB } from './hostile';
import { killLoop, STAGES } from './kill-loop';
import { messageKillLoop, SEND_STEPS } from './message-kill-loop';
import { ROOT } from './proc';
import { supplyChain } from './supply-chain';
import { openCorpusContext } from './corpus';

const args = process.argv.slice(2);
const full = args.includes('--full');
const seedArg = args.indexOf('--seed');
/** Fixed unless --seed says otherwise: a figure that changes between two runs of the same code is the code's. */
const seed = seedArg >= 0 ? Number(args[seedArg + 1]) : 5594;
const pgUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
/** Kills per store: 20 in CI (four in each stage), 100 with --full (twenty in each). */
const killRuns = full ? 100 : 20;

const failures: string[] = [];
const lines: string[] = [];
const say = (l = ''): void => {
  lines.push(l);
  process.stdout.write(`${l}\n`);
};
function must(ok: boolean, what: string): void {
  if (!ok) failures.push(what);
}

/**
 * Every operation of the API's OpenAPI description that declares a security requirement, called
 * without a key at its own path (ids filled in, bodies malformed where a body is taken): each must
 * answer 401. The open ones (health, ready, metrics, the description itself) are listed apart.
 */
async function unauthenticatedSweep(): Promise<{
  routes: number;
  unauthorized: number;
  other: string[];
  open: string[];
}> {
  const ctx = await openCorpusContext();
  try {
    let routes = 0;
    let unauthorized = 0;
    const other: string[] = [];
    const open: string[] = [];
    for (const [p, ops] of Object.entries(
      (OPENAPI as { paths: Record<string, Record<string, { security?: readonly unknown[] }>> }).paths,
    )) {
      for (const [method, op] of Object.entries(ops)) {
        if (!op.security?.length) {
          open.push(`${method.toUpperCase()} ${p}`);
          continue;
        }
        routes++;
        const url = `${ctx.apiBase}${p.replace(/\{[^}]+\}/g, 'x1')}`;
        const res = await fetch(url, {
          method: method.toUpperCase(),
          headers: { 'content-type': 'application/json' },
          ...(method === 'get' ? {} : { body: '{not json' }),
        });
        if (res.status === 401) unauthorized++;
        else other.push(`${method.toUpperCase()} ${p} → ${res.status}`);
      }
    }
    return { routes, unauthorized, other, open };
  } finally {
    await ctx.close();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  process.env.LOG_LEVEL ??= 'silent';
  process.stderr.write('building dist/ unless it is fresh (the killed processes run the compiled build)…\n');
  await buildDist();
  process.env.RELIABILITY_BUILT = '1';

  say('# Reliability and security');
  say();
  say(
    `Written by \`npm run test:reliability${full ? ' -- --full' : ''}\` on ${new Date().toISOString().slice(0, 10)} (seed ${seed}; replay with \`npm run test:reliability -- --seed ${seed}\`). Every figure below is measured by that run; the suite fails when a figure that must be 0 is not.`,
  );
  say();

  process.stderr.write('bad-input corpus…\n');
  const corpus = await runCorpus();
  const byKind = new Map<string, { n: number; accepted: number; warning: number; rejected: number }>();
  for (const r of corpus) {
    const k = byKind.get(r.kind) ?? { n: 0, accepted: 0, warning: 0, rejected: 0 };
    k.n++;
    k[r.outcome]++;
    byKind.set(r.kind, k);
  }
  const corpusProblems = corpus.filter((r) => r.problems.length);
  const fiveHundreds = corpus.filter((r) => r.kind === 'api' && r.code >= 500).length;
  const stackTraces = corpus.filter((r) => r.problems.some((p) => p.includes('stack trace'))).length;
  const echoes = corpus.filter((r) => r.problems.some((p) => p.includes('came back'))).length;
  say('## Bad-input corpus (test/corpus/)');
  say();
  say('| inputs | tried | accepted | accepted with a warning | rejected with a message |');
  say('|---|---|---|---|---|');
  for (const [kind, k] of [...byKind].sort())
    say(`| ${kind} | ${k.n} | ${k.accepted} | ${k.warning} | ${k.rejected} |`);
  say();
  say(
    `${corpus.length} inputs; answered as expected: ${corpus.length - corpusProblems.length}; 500s from bad input: ${fiveHundreds}; stack traces or "unexpected error": ${stackTraces}; input words echoed back: ${echoes}.`,
  );
  for (const r of corpusProblems) say(`- ✗ ${r.file}: ${r.problems.join('; ')}`);
  must(corpusProblems.length === 0, `${corpusProblems.length} corpus inputs answered wrongly`);
  say();
  say('<details><summary>Each input and how it was answered</summary>');
  say();
  say('| input | expected | answer |');
  say('|---|---|---|');
  for (const r of corpus) say(`| ${r.file} | ${r.expected} | ${headline(r).replace(/\|/g, '/')} |`);
  say();
  say('</details>');
  say();

  process.stderr.write('unauthenticated API sweep…\n');
  const sweep = await unauthenticatedSweep();
  say('## API without a key');
  say();
  say(
    `${sweep.routes} protected operations of the OpenAPI description called at their own paths without a key (bodies malformed where a body is taken): ${sweep.unauthorized} answered 401.${sweep.other.length ? ` Others: ${sweep.other.join(', ')}` : ''} Open by design, without patient data: ${sweep.open.join(', ')}.`,
  );
  must(sweep.routes > 0 && sweep.unauthorized === sweep.routes, 'a protected route answered without a key');
  say();

  say('## Kill -9 loop');
  say();
  say(
    `Each run is a \`fhir-engage sync\` process killed (SIGKILL) at a moment chosen in turn among the stages, a day later than the run before; then a clean run and one more. Stages: pull (0–400 ms after a type starts), compute (0–400 ms after planning starts), outbox (the outbox committed, dispatch starting), send (a write killed before it reaches the EMR), ack (the EMR applied a write; fhir-engage never heard the answer).`,
  );
  say();
  say(
    `| store | runs | ${STAGES.map((s) => `killed in ${s}`).join(' | ')} | finished first | resources lost | duplicate identifiers in the EMR | written without Provenance | writes of the last run |`,
  );
  say(`|---|---|${STAGES.map(() => '---').join('|')}|---|---|---|---|---|`);
  const stores: ('pglite' | 'postgres')[] = pgUrl ? ['pglite', 'postgres'] : ['pglite'];
  for (const store of stores) {
    process.stderr.write(`kill -9 loop on ${store} (${killRuns} runs)…\n`);
    const r = await killLoop({
      store,
      runs: killRuns,
      seed,
      pgUrl,
      onRun: (n, stage, hit) =>
        process.stderr.write(
          `  ${store} run ${n}/${killRuns}: ${hit ? `killed in ${stage}` : `finished before the ${stage} kill`}\n`,
        ),
    });
    say(
      `| ${store} | ${r.runs} | ${STAGES.map((s) => r.killed[s]).join(' | ')} | ${r.completed} | ${r.reconciliation.lost} | ${r.reconciliation.duplicates} | ${r.reconciliation.withoutProvenance} (of ${r.reconciliation.written}) | ${r.finalRunWrites} |`,
    );
    // Positive control: kills landed in every stage (if the progress text a kill waits for changed, none would, and "0 lost" would prove nothing).
    const missed = STAGES.filter((s) => r.killed[s] === 0);
    if (missed.length) say(`- ✗ ${store}: no kill landed in ${missed.join(', ')}`);
    must(
      missed.length === 0,
      `kill -9 loop on ${store}: no kill landed in ${missed.join(', ')} (the loop tested nothing there)`,
    );
    must(
      r.reconciliation.written > 0,
      `kill -9 loop on ${store}: nothing was written to the EMR (the reconciliation checked nothing)`,
    );
    must(
      r.reconciliation.lost === 0 &&
        r.reconciliation.duplicates === 0 &&
        r.reconciliation.withoutProvenance === 0 &&
        r.finalRunWrites === 0 &&
        r.finalExit === 0,
      `kill -9 loop on ${store}: lost ${r.reconciliation.lost}, duplicates ${r.reconciliation.duplicates}, without Provenance ${r.reconciliation.withoutProvenance}, last run writes ${r.finalRunWrites}, exit ${r.finalExit}`,
    );
  }
  if (!pgUrl) say('(PostgreSQL not measured: TEST_DATABASE_URL is not set.)');
  say();

  say('## Kill -9 loop: messages to patients');
  say();
  say(
    "Each day two visits are booked for tomorrow for patients with a mobile phone; the day's `fhir-engage sync` sends their reminders by SMS through the sandbox's Twilio stand-in (behind a proxy) and is killed (SIGKILL) at a step chosen in turn: before the provider call reaches the provider, after the provider made the message but before fhir-engage heard its answer, after the answer's id was stored (at the next message's call); then the scheduler's next tick (a clean run an hour later), and one more run at the end. Counted at the provider.",
  );
  say();
  say(
    `| store | runs | ${SEND_STEPS.map((s) => `killed ${s}`).join(' | ')} | finished first | visits planted | texts sent | duplicate texts | reminders lost |`,
  );
  say(`|---|---|${SEND_STEPS.map(() => '---').join('|')}|---|---|---|---|---|`);
  for (const store of stores) {
    process.stderr.write(`message kill -9 loop on ${store} (${killRuns} runs)…\n`);
    const r = await messageKillLoop({ store, runs: killRuns, seed, pgUrl });
    say(
      `| ${store} | ${r.runs} | ${SEND_STEPS.map((s) => r.killed[s]).join(' | ')} | ${r.completed} | ${r.planted} | ${r.sent} | ${r.duplicates} | ${r.lost} |`,
    );
    const missed = SEND_STEPS.filter((s) => r.killed[s] === 0);
    must(
      missed.length === 0,
      `message kill loop on ${store}: no kill landed ${missed.join(', ')} (the loop tested nothing there)`,
    );
    must(
      r.duplicates === 0 && r.lost === 0 && r.sent >= r.planted && r.finalExit === 0,
      `message kill loop on ${store}: duplicates ${r.duplicates}, lost ${r.lost}, sent ${r.sent} of ${r.planted} planted, exit ${r.finalExit}`,
    );
  }
  say();

  process.stderr.write('fault storm…\n');
  say('## Fault storm');
  say();
  say(
    'The sandbox EMR with every fault at once: 15 % of requests answered 500/502/503/504, every 13th 429 with Retry-After (1 s), slow answers, pages capped at 15, opaque next links of which the 5th, 21st and 40th followed have expired, every 17th search body truncated, 6 invalid Appointments.',
  );
  say();
  say(
    '| seed | faults injected | run status | type: served = stored + dead-lettered | dead letters = the injected invalid resources | lost | writes of a run after all settled |',
  );
  say('|---|---|---|---|---|---|---|');
  for (const s of full ? [seed, seed + 1, seed + 2] : [seed]) {
    const r = await faultStorm(s % 1000);
    const faults = Object.entries(r.faults)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const types = Object.entries(r.reconciliation.types)
      .map(([t, c]) => `${t} ${c.served} = ${c.stored} + ${c.deadLettered}`)
      .join('; ');
    // Positive controls: the faults were injected, the dead letters are exactly the invalid resources put in (not
    // valid resources lost to a fault and counted as "accounted for"), and the run says it is not clean.
    const exact =
      r.deadLetters.injected.length > 0 &&
      JSON.stringify(r.deadLetters.found) === JSON.stringify(r.deadLetters.injected);
    say(
      `| ${s % 1000} | ${faults} | ${r.status} | ${types} | ${exact ? `yes (${r.deadLetters.found.length})` : `**no**: ${r.deadLetters.found.length} found, ${r.deadLetters.injected.length} injected`} | ${r.reconciliation.lost} | ${r.secondRunWrites} |`,
    );
    const quiet = Object.entries(r.faults)
      .filter(([, v]) => v === 0)
      .map(([k]) => k);
    must(quiet.length === 0, `fault storm seed ${s}: faults not injected: ${quiet.join(', ')}`);
    must(
      exact,
      `fault storm seed ${s}: dead letters ${r.deadLetters.found.join(', ')} are not the injected ${r.deadLetters.injected.join(', ')}`,
    );
    must(
      r.status === 'partially-failed',
      `fault storm seed ${s}: the storm run reported ${r.status}, not partially-failed (it has new dead letters)`,
    );
    must(
      r.reconciliation.lost === 0 && r.reconciliation.duplicates === 0 && r.secondRunWrites === 0,
      `fault storm seed ${s}: lost ${r.reconciliation.lost}, duplicates ${r.reconciliation.duplicates}, settled-run writes ${r.secondRunWrites}`,
    );
  }
  say();

  process.stderr.write('hostile EMR…\n');
  say('## A hostile or broken EMR');
  say();
  say(
    `Each case: the sandbox EMR (bearer token) with one misbehaviour, synced in this process into a fresh embedded store; a second server stands for another host and counts the requests and Authorization headers it gets. Peak memory is the process's resident size above what it was before the run (bound ${RSS_BOUND_MB} MB), and in all (for reference: the suite process also holds the earlier parts' embedded stores, each a WebAssembly heap of a few hundred MB that is never returned). Then the EMR behaves again and the next run must succeed: nothing stops the source for ever.`,
  );
  say();
  say(
    '| case | what the EMR does | run | what fhir-engage did | requests / tokens at the other host | peak memory | time | next run |',
  );
  say('|---|---|---|---|---|---|---|---|');
  const hostile = await hostileEmr((c) =>
    process.stderr.write(`  ${c.name}: ${c.ok ? 'ok' : `FAILED (${c.failed.join('; ')})`}\n`),
  );
  for (const c of hostile) {
    say(
      `| ${c.name} | ${c.does} | ${c.status} | ${c.answer.replace(/\|/g, '/')} | ${c.foreignRequests} / ${c.foreignTokens} | +${c.peakRssMb} MB (${c.peakRssAbsoluteMb} MB in all) | ${c.seconds.toFixed(1)} s | ${c.nextRun} |`,
    );
    must(c.ok, `hostile EMR, ${c.name}: ${c.failed.join('; ')}`);
  }
  for (const c of hostile.filter((x) => !x.ok)) say(`- ✗ ${c.name}: ${c.failed.join('; ')}`);
  say();

  say('## Store outage (PostgreSQL)');
  say();
  if (pgUrl) {
    say(
      'Every connection of the store terminated by the server (as a restart or a failover does) during the pull, the compute and the write-back; the same process then runs again twice.',
    );
    say();
    say(
      '| terminated during | connections cut | that run | its answer | stopped where it says | next run | lost | duplicates | writes of the run after |',
    );
    say('|---|---|---|---|---|---|---|---|---|');
    // The run's error must name the stage the connections were cut in.
    const named = { pull: /during the pull of /, compute: /during the compute;/, dispatch: /during the write-back;/ };
    for (const stage of ['pull', 'compute', 'dispatch'] as const) {
      process.stderr.write(`store outage during ${stage}…\n`);
      const r = await storeOutage(pgUrl, stage);
      const says = named[stage].test(r.error ?? '');
      say(
        `| ${stage} | ${r.terminated} | ${r.status} | ${(r.error ?? '').replace(/\|/g, '/').slice(0, 320)} | ${says ? 'yes' : '**no**'} | ${r.nextStatus} | ${r.reconciliation.lost} | ${r.reconciliation.duplicates} | ${r.finalRunWrites} |`,
      );
      must(
        says &&
          r.nextStatus === 'succeeded' &&
          r.reconciliation.lost === 0 &&
          r.reconciliation.duplicates === 0 &&
          r.finalRunWrites === 0,
        `store outage during ${stage}`,
      );
    }
    say();
    process.stderr.write('PostgreSQL restarted under fhir-engage serve…\n');
    const restart = await serveThroughRestart(pgUrl);
    if (restart.skipped) {
      say(`Server restart during \`serve\`: not run here (${restart.skipped}).`);
    } else {
      const statuses = (m: Record<string, number>): string =>
        Object.entries(m)
          .map(([k, v]) => `${k === '0' ? 'no answer' : k} ×${v}`)
          .join(', ');
      say(
        `Server restart during \`serve\`: the local cluster restarted (\`pg_ctlcluster … restart\`, ${restart.restartSeconds} s until it accepted connections again) while \`fhir-engage serve\` ran a sync triggered through the API. The service stayed up: ${restart.serveAlive ? 'yes' : '**no**'}; \`/api/health\` meanwhile: ${statuses(restart.health)}; \`/api/ready\`: ${statuses(restart.ready)}. The run under way ended ${restart.interruptedRun}; the next one, triggered the same way, ${restart.nextRun}; resources lost ${restart.reconciliation?.lost}, duplicate identifiers in the EMR ${restart.reconciliation?.duplicates}.`,
      );
      must(
        restart.serveAlive &&
          !restart.interruptedRun.startsWith('still running') &&
          restart.nextRun === 'succeeded' &&
          restart.reconciliation?.lost === 0 &&
          restart.reconciliation.duplicates === 0 &&
          !restart.health['0'],
        'PostgreSQL restart under serve',
      );
    }
  } else {
    say('Not measured: TEST_DATABASE_URL is not set.');
  }
  say();

  process.stderr.write('PHI canary…\n');
  const canary = await phiCanary();
  say('## PHI canary');
  say();
  say(
    `A synthetic patient with unique words in name, MRN, phone, a free-text answer and an appointment note (one appointment invalid, so a dead letter holds it), synced with LOG_LEVEL=debug; then ${canary.commands.map((c) => `\`${c.args.replace(/ --as-of \S+/, '')}\``).join(', ')}, and ${canary.places - 2 * canary.commands.length} API routes (runs, dead letters, programme, report, the patient's engagement and overview, the safety list, the worklist and a worklist search by name, a search by the MRN, the access log, metrics). The care team's views (the patient's overview, the safety list, the worklist) name the patient and their phone by design, each read in the access log; in them only the MRN, the free-text answer and the note count as hits. ${canary.places} outputs, ${canary.bytesSearched} characters searched: **${canary.hits.length} canary hits**.`,
  );
  for (const h of canary.hits) say(`- ✗ "${h.word}" in ${h.where}`);
  const absent = Object.entries(canary.storedWords)
    .filter(([, found]) => !found)
    .map(([w]) => w);
  const misbehaved = canary.commands.filter((c) => c.code === null || !c.expected.includes(c.code));
  say(
    `Positive controls: each word found in the store (resources or the dead letter's payload): ${absent.length ? `**no** (${absent.length} missing)` : 'yes'}; every command ended as expected: ${misbehaved.length ? `**no** (${misbehaved.map((c) => `${c.args} → ${c.code}`).join(', ')})` : `yes (${canary.commands.map((c) => `${c.args.split(' ')[0]} ${c.code}`).join(', ')})`}.`,
  );
  must(canary.hits.length === 0, `${canary.hits.length} canary hits`);
  must(
    absent.length === 0,
    `PHI canary: ${absent.length} word(s) never reached the store (the search proved nothing about them)`,
  );
  must(
    misbehaved.length === 0,
    `PHI canary: commands did not end as expected: ${misbehaved.map((c) => `${c.args} → ${c.code}`).join(', ')}`,
  );
  say();

  process.stderr.write('supply chain…\n');
  const chain = await supplyChain();
  say('## Supply chain');
  say();
  say(
    `Runtime dependencies pinned by package-lock.json (lockfile v${chain.lockfileVersion}, installed with \`npm ci\`): ${chain.packages.length} packages; licences: ${[
      ...new Set(chain.packages.map((p) => p.license)),
    ]
      .sort()
      .map((l) => `${l} ${chain.packages.filter((p) => p.license === l).length}`)
      .join(', ')}; copyleft: ${chain.copyleft.length ? chain.copyleft.join(', ') : 'none'}.`,
  );
  say(
    `npm audit (runtime dependencies): ${
      chain.audit.checked
        ? Object.entries(chain.audit.vulnerabilities)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')
        : `not checked (${chain.audit.reason})`
    }.`,
  );
  const scripts = chain.installScripts;
  const undecided = scripts.filter((p) => p.allowed === undefined);
  say(
    `Install scripts (every package with one, runtime or development): ${scripts.length ? scripts.map((p) => `${p.name}@${p.version} ${p.allowed === undefined ? '**not decided**' : p.allowed ? 'allowed' : 'not run'}`).join(', ') : 'none'}; decided in package.json's \`allowScripts\`.`,
  );
  must(chain.copyleft.length === 0, 'a copyleft runtime dependency');
  must(
    undecided.length === 0,
    `install scripts not decided in package.json allowScripts: ${undecided.map((p) => p.name).join(', ')}`,
  );
  if (chain.audit.checked)
    must(
      (chain.audit.vulnerabilities.high ?? 0) + (chain.audit.vulnerabilities.critical ?? 0) === 0,
      'high or critical vulnerabilities in runtime dependencies',
    );
  say();
  say('<details><summary>Runtime dependencies and their licences</summary>');
  say();
  say('| package | version | licence |');
  say('|---|---|---|');
  for (const p of chain.packages) say(`| ${p.name} | ${p.version} | ${p.license} |`);
  say();
  say('</details>');
  say();
  say(`Suite time: ${Math.round((Date.now() - started) / 1000)} s.`);
  writeFileSync(path.join(ROOT, 'docs', 'reliability.md'), `${lines.join('\n')}\n`);
  if (failures.length) {
    process.stderr.write(`\nFAILED:\n${failures.map((f) => `- ${f}`).join('\n')}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`\nreliability suite passed; docs/reliability.md written\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
