/**
 * The bad-input corpus (test/corpus/): each file is handed to fhir-engage the way a user would hand
 * it over — a sources file to `config check`, a mapping or questionnaire override through a sources
 * file's mappingsDir, FHIR JSON/NDJSON to `validate`, a request to the API — and its answer is
 * checked against test/corpus/cases.json: accepted, accepted with a warning, or rejected with a
 * message naming what and where; never a stack trace, never a 500, never the same error twice, and
 * never the input's own words where they may be patient data or secrets (`mustNotSay`).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApiApp } from '../../src/api/app';
import { Metrics } from '../../src/api/metrics';
import { loadConfig } from '../../src/config/load';
import { runCli } from '../../src/cli/program';
import type { CliIo } from '../../src/cli/io';
import { openStore } from '../../src/store/open';
import type { Store } from '../../src/store/store';
import { SyncRunner } from '../../src/sync/runner';

export const CORPUS_DIR = path.join(__dirname, '..', 'corpus');

export interface CorpusCase {
  expect: 'accepted' | 'warning' | 'rejected';
  /** A regular expression the answer must match (message, file:line, element). */
  says?: string;
  /** Text of the input that must not come back (patient data, secrets). */
  mustNotSay?: string;
  /** Mapping/questionnaire overrides: the file name it is installed under. */
  as?: string;
  /** API cases: the expected HTTP status. */
  status?: number;
  /** Generated at run time instead of committed: a file of this many bytes. */
  generate?: number;
}

export interface CaseResult {
  file: string;
  kind: string;
  expected: CorpusCase['expect'];
  outcome: CorpusCase['expect'];
  /** Exit code (CLI) or HTTP status (API). */
  code: number;
  answer: string;
  problems: string[];
}

export function loadCases(): [string, CorpusCase][] {
  return Object.entries(
    JSON.parse(readFileSync(path.join(CORPUS_DIR, 'cases.json'), 'utf8')) as Record<string, CorpusCase>,
  );
}

const API_KEY = 'corpus-key';

export interface CorpusContext {
  tmp: string;
  apiBase: string;
  close(): Promise<void>;
}

export async function openCorpusContext(): Promise<CorpusContext> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'fe-corpus-'));
  const store: Store = await openStore({ dataDir: path.join(tmp, 'api-store'), schema: 'public' });
  const config = { ...loadConfig({ env: {}, cwd: tmp }), sources: [] };
  const runner = new SyncRunner(store, config, () => undefined);
  const app = createApiApp({ store, config, runner, metrics: new Metrics(false), apiKeys: [API_KEY] });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    tmp,
    apiBase: `http://127.0.0.1:${port}`,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runner.stop();
      await store.close();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

async function cli(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false };
  const saved = process.env.LOG_LEVEL;
  process.env.LOG_LEVEL = 'silent';
  try {
    const code = await runCli(['node', 'fhir-engage', ...argv], io);
    return { code, out, err };
  } finally {
    if (saved === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = saved;
  }
}

const SOURCES = 'sources:\n  - id: corpus\n    baseUrl: https://emr.example.org/fhir/R4\n';

/** Where a case's file goes and which command reads it. */
async function answerCli(
  file: string,
  c: CorpusCase,
  kind: string,
  ctx: CorpusContext,
): Promise<{ code: number; out: string[]; err: string[] }> {
  const full = path.join(CORPUS_DIR, file);
  const scratch = mkdtempSync(path.join(ctx.tmp, `${kind}-`));
  if (kind === 'sources') {
    let target = full;
    if (c.generate) {
      // Too large to commit: a valid start, then comment lines up to the size.
      target = path.join(scratch, path.basename(file));
      writeFileSync(target, SOURCES);
      const line = `# ${'x'.repeat(1022)}\n`;
      const block = line.repeat(1024);
      for (let written = SOURCES.length; written < c.generate; written += block.length)
        writeFileSync(target, block, { flag: 'a' });
    }
    return cli(['config', 'check', '-c', target]);
  }
  if (kind === 'mappings' || kind === 'questionnaires') {
    const dir = path.join(scratch, 'sources', 'corpus', ...(kind === 'questionnaires' ? ['questionnaires'] : []));
    mkdirSync(dir, { recursive: true });
    copyFileSync(full, path.join(dir, c.as ?? path.basename(file)));
    const sources = path.join(scratch, 'fhir-engage.config.yaml');
    writeFileSync(sources, `${SOURCES}mappingsDir: ${scratch}\n`);
    return cli(['config', 'check', '-c', sources]);
  }
  if (kind === 'fhir') return cli(['validate', full]);
  throw new Error(`unknown corpus folder ${kind}`);
}

interface ApiRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** [prefix, unit, times, suffix]: a large body built at run time. */
  bodyRepeat?: [string, string, number, string];
}

function answerApi(
  file: string,
  ctx: CorpusContext,
): Promise<{ code: number; text: string; headers: http.IncomingHttpHeaders }> {
  const req = JSON.parse(readFileSync(path.join(CORPUS_DIR, file), 'utf8')) as ApiRequest;
  const body = req.bodyRepeat
    ? `${req.bodyRepeat[0]}${req.bodyRepeat[1].repeat(req.bodyRepeat[2])}${req.bodyRepeat[3]}`
    : req.body;
  const url = new URL(ctx.apiBase);
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (v: { code: number; text: string; headers: http.IncomingHttpHeaders }): void => {
      if (!settled) {
        settled = true;
        resolve(v);
      }
    };
    // node:http sends the path exactly as written (%00, %ff, ..%2F), as an attacker's client would.
    const r = http.request(
      // A connection of its own: a socket the server closed after an earlier error answer is never reused.
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        agent: false,
        headers: {
          ...(req.headers ?? {}),
          ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        // A server that answers and closes (431, 413) may end the socket without ending the body.
        const finish = (): void => done({ code: res.statusCode ?? 0, text, headers: res.headers });
        res.on('end', finish);
        res.on('close', finish);
      },
    );
    // A deadline for the whole exchange (not socket inactivity), so that a stuck case fails by name.
    const deadline = setTimeout(() => {
      r.destroy();
      if (!settled) {
        settled = true;
        reject(new Error(`no answer within 15 s to ${file}`));
      }
    }, 15_000);
    r.on('close', () => clearTimeout(deadline));
    r.on('error', (err: NodeJS.ErrnoException) => {
      // A server that stops reading a too-large body may reset the connection after answering.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') done({ code: -1, text: err.code, headers: {} });
      else if (!settled) {
        settled = true;
        reject(err);
      }
    });
    if (body !== undefined) r.write(body);
    r.end();
  });
}

const STACK = /\n?\s+at .+[(:]\d+:\d+\)?|unexpected error/;

export async function runCase(file: string, c: CorpusCase, ctx: CorpusContext): Promise<CaseResult> {
  const kind = file.split('/')[0] as string;
  const problems: string[] = [];
  let outcome: CorpusCase['expect'];
  let code: number;
  let answer: string;
  if (kind === 'api') {
    const res = await answerApi(file, ctx);
    code = res.code;
    answer = res.text;
    outcome = code >= 400 || code < 0 ? 'rejected' : 'accepted';
    if (c.status !== undefined && code !== c.status) problems.push(`HTTP ${code}, expected ${c.status}`);
    if (code >= 500) problems.push(`a ${code} from bad input`);
    if (code >= 400 && answer && !/^\{/.test(answer.trim())) problems.push('the error body is not an OperationOutcome');
  } else {
    const res = await answerCli(file, c, kind, ctx);
    code = res.code;
    answer = [...res.out, ...res.err].join('\n');
    const warned = /valid, with warnings|^\s*warning /m.test(answer);
    outcome = code === 0 ? (warned ? 'warning' : 'accepted') : 'rejected';
    const errLines = res.err.filter((l) => l.trim());
    const repeated = errLines.filter((l, i) => errLines.indexOf(l) !== i);
    if (repeated.length) problems.push(`printed more than once: ${repeated[0]}`);
    if (code !== 0 && !res.err.length && kind !== 'fhir') problems.push('rejected without saying why on stderr');
  }
  if (outcome !== c.expect) problems.push(`${outcome}, expected ${c.expect}`);
  if (c.says && !new RegExp(c.says).test(answer)) problems.push(`the answer does not match /${c.says}/`);
  if (STACK.test(answer)) problems.push('a stack trace or "unexpected error" in the answer');
  if (c.mustNotSay && answer.includes(c.mustNotSay))
    problems.push(`the input's "${c.mustNotSay}" came back in the answer`);
  return { file, kind, expected: c.expect, outcome, code, answer: answer.slice(0, 2000), problems };
}

/**
 * One line saying how an input was answered, for the per-input table of docs/reliability.md: the
 * HTTP status and the OperationOutcome's first issue, or the exit code and the first line that
 * names an error or warning. Scratch paths are cut to the file's name.
 */
export function headline(r: CaseResult): string {
  let text: string;
  if (r.kind === 'api') {
    let issue: string;
    try {
      const first = (JSON.parse(r.answer) as { issue?: { details?: { text?: string }; diagnostics?: string }[] })
        .issue?.[0];
      issue = first?.details?.text ?? first?.diagnostics ?? '';
    } catch {
      issue = r.answer.trim() ? 'not JSON' : '';
    }
    text =
      r.code < 0 ? `connection reset after the answer (${r.answer})` : `HTTP ${r.code}${issue ? `: ${issue}` : ''}`;
  } else {
    // The first error or warning (validate prints the verdict line, then its issues); else the verdict.
    const lines = r.answer
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const line =
      lines.find((l) => /^(error|warning)\b/i.test(l)) ?? (r.code === 0 ? lines[lines.length - 1] : lines[0]) ?? '';
    text = `exit ${r.code}${line ? `: ${line}` : ''}`;
  }
  const escape = (s: string): string => s.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&');
  const cut = text
    .replace(new RegExp(`${escape(os.tmpdir())}/\\S*/`, 'g'), '')
    .replaceAll(`${path.join(CORPUS_DIR, '..', '..')}/`, '');
  return cut.length > 180 ? `${cut.slice(0, 177)}…` : cut;
}

export async function runCorpus(): Promise<CaseResult[]> {
  const ctx = await openCorpusContext();
  try {
    const results: CaseResult[] = [];
    for (const [file, c] of loadCases()) results.push(await runCase(file, c, ctx));
    return results;
  } finally {
    await ctx.close();
  }
}
