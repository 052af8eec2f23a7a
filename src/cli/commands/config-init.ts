/**
 * `fhir-engage config init`: writes a sources file for an EMR profile (Epic, Oracle Health, a SMART
 * Backend Services server, a client-credentials or bearer server), asking only what the profile needs
 * — interactively on a terminal, from flags otherwise (`--yes`) — with secrets as `${ENV}` references
 * and a `.env` skeleton (mode 0600), a signing key made when the profile needs one, then checks the
 * result with `doctor` when it can and says what to do next (docs/onboarding/).
 */
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { envValue } from '../../config/env';
import { loadConfig } from '../../config/load';
import {
  INIT_PROFILES,
  initSourcesFile,
  needsKey,
  questionsFor,
  tokenRequired,
  type InitAnswers,
  type InitProfile,
} from '../../config/init-template';
import { configError, configErrors, describeError, EngageError, ExitCode } from '../../errors';
import { diagnoseSource } from '../../fhir/doctor';
import { generateSigningKey } from '../../fhir/keys';
import { isTimeZone } from '../../local-time';
import { ensureOwnerOnlyDir } from '../../owner-only';
import type { CliIo } from '../io';

interface InitOptions {
  profile?: string;
  id?: string;
  baseUrl?: string;
  clientId?: string;
  secretEnv?: string;
  tokenUrl?: string;
  group?: string;
  timeZone?: string;
  out: string;
  yes?: boolean;
  force?: boolean;
  doctor: boolean;
}

const PROMPTS: Record<keyof InitAnswers, string> = {
  profile: `EMR profile (${INIT_PROFILES.join(', ')})`,
  id: 'source id (lower case, e.g. clinic-north)',
  baseUrl: 'FHIR R4 base URL',
  clientId: 'client id (as registered with the EMR)',
  secretEnv: 'environment variable for the secret (it goes in .env)',
  tokenUrl: 'token URL (for Epic or another SMART server: empty, discovered from the EMR)',
  groupId: 'Group id of the programme’s patients (Epic needs one; elsewhere empty: none)',
  timeZone: 'the clinic’s time zone (IANA, e.g. America/Chicago)',
  keyFile: 'key file',
  keyId: 'key id',
};

/** Each answer checked; every problem at once, in words. */
function check(a: Partial<InitAnswers>, profile: InitProfile): InitAnswers {
  const problems: { text: string }[] = [];
  const need = questionsFor(profile);
  const bad = (_field: keyof InitAnswers, text: string): void => void problems.push({ text });
  if (!a.id || !/^[a-z0-9][a-z0-9_-]{0,62}$/.test(a.id))
    bad('id', '--id: lower-case letters, digits, dashes and underscores, starting with a letter or digit');
  if (!a.baseUrl || !/^https?:\/\/[^\s]+$/.test(a.baseUrl))
    bad('baseUrl', '--base-url: an http:// or https:// address');
  if (need.includes('clientId') && !a.clientId) bad('clientId', '--client-id is required for this profile');
  // A secret's default name comes from a valid id: a wrong id is said once, not twice.
  if (need.includes('secretEnv') && a.secretEnv !== undefined && !/^[A-Z][A-Z0-9_]{0,63}$/.test(a.secretEnv))
    bad('secretEnv', '--secret-env: an environment variable name in capitals, e.g. CLINIC_NORTH_SECRET');
  if (tokenRequired(profile) && !a.tokenUrl)
    bad('tokenUrl', '--token-url is required for this profile (client credentials name their token endpoint)');
  if (a.tokenUrl && !/^https?:\/\/[^\s]+$/.test(a.tokenUrl))
    bad('tokenUrl', '--token-url: an http:// or https:// address');
  if (profile === 'epic' && !a.groupId)
    bad(
      'groupId',
      "--group is required for Epic: the Group of the programme's patients (its export, then its members searched)",
    );
  if (a.groupId && !/^[A-Za-z0-9\-.]{1,64}$/.test(a.groupId))
    bad('groupId', '--group: a FHIR id (letters, digits, dashes and dots, at most 64)');
  if (a.timeZone && !isTimeZone(a.timeZone))
    bad('timeZone', `--time-zone: an IANA zone such as America/Chicago (not an abbreviation like CST)`);
  if (problems.length) throw configErrors(problems);
  return { ...a, profile } as InitAnswers;
}

async function ask(opts: InitOptions, io: CliIo): Promise<InitAnswers> {
  const interactive = process.stdin.isTTY === true && !opts.yes;
  const given: Partial<InitAnswers> = {
    ...(opts.id ? { id: opts.id } : {}),
    ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}),
    ...(opts.clientId ? { clientId: opts.clientId } : {}),
    ...(opts.secretEnv ? { secretEnv: opts.secretEnv } : {}),
    ...(opts.tokenUrl ? { tokenUrl: opts.tokenUrl } : {}),
    ...(opts.group ? { groupId: opts.group } : {}),
    ...(opts.timeZone ? { timeZone: opts.timeZone } : {}),
  };
  const rl = interactive ? createInterface({ input: process.stdin, output: process.stderr }) : undefined;
  try {
    let profile = opts.profile;
    if (!profile && rl) profile = (await rl.question(`${PROMPTS.profile}: `)).trim();
    if (!profile || !(INIT_PROFILES as readonly string[]).includes(profile))
      throw configError(`--profile must be one of ${INIT_PROFILES.join(', ')}`, ['--profile']);
    const p = profile as InitProfile;
    for (const field of questionsFor(p)) {
      if (given[field] !== undefined || !rl) continue;
      const fallback = field === 'secretEnv' && given.id ? `${given.id.toUpperCase().replace(/-/g, '_')}_SECRET` : '';
      const answer = (await rl.question(`${PROMPTS[field]}${fallback ? ` [${fallback}]` : ''}: `)).trim() || fallback;
      if (answer) (given as Record<string, string>)[field] = answer;
    }
    if (
      !given.secretEnv &&
      given.id &&
      /^[a-z0-9][a-z0-9_-]{0,62}$/.test(given.id) &&
      questionsFor(p).includes('secretEnv')
    )
      given.secretEnv = `${given.id.toUpperCase().replace(/-/g, '_')}_SECRET`;
    if (!interactive) io.err(`config init: profile ${p}, answers from the flags (--yes or no terminal)`);
    return check(given, p);
  } finally {
    rl?.close();
  }
}

/** The key a SMART Backend Services profile signs with: made now, private half mode 0600. */
async function makeKey(a: InitAnswers, keysDir: string, io: CliIo): Promise<InitAnswers> {
  const kid = `${a.id}-${new Date().toISOString().slice(0, 7)}`;
  const file = path.join(keysDir, `${kid}.pem`);
  if (!existsSync(file)) {
    const { privatePem } = await generateSigningKey('RS384', kid);
    ensureOwnerOnlyDir(keysDir);
    writeFileSync(file, privatePem, { mode: 0o600, flag: 'wx' });
    io.err(
      `signing key made: ${file} (mode 0600); register its public half: the service publishes it at /.well-known/jwks.json (\`fhir-engage keys jwks\` prints it)`,
    );
  }
  return { ...a, keyFile: file, keyId: kid };
}

/** .env: made (mode 0600) with the lines to fill, or completed with the names it lacks. */
function writeEnvSkeleton(file: string, lines: string[], io: CliIo): void {
  if (lines.length === 0) return;
  const present = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const missing = lines.filter((l) => !new RegExp(`^${l.split('=')[0]}=`, 'm').test(present));
  if (!existsSync(file))
    writeFileSync(
      file,
      `# Secrets of fhir-engage.config.yaml: fill in, keep this file to yourself (mode 0600).\n${missing.join('\n')}\n`,
      {
        mode: 0o600,
      },
    );
  else if (missing.length) appendFileSync(file, `${present.endsWith('\n') ? '' : '\n'}${missing.join('\n')}\n`);
  chmodSync(file, 0o600);
  if (missing.length) io.err(`${file}: fill in ${missing.map((l) => l.split('=')[0]).join(', ')}`);
}

export function registerConfigInitCommand(config: Command, io: CliIo, setExit: (code: number) => void): void {
  config
    .command('init')
    .description(
      'write a sources file for an EMR profile (epic, oracle-health, smart-backend, client-credentials, bearer), asking only what it needs; secrets as ${ENV} references in a .env skeleton (mode 0600); then doctor',
    )
    .option('--profile <profile>', INIT_PROFILES.join(', '))
    .option('--id <id>', 'source id')
    .option('--base-url <url>', 'FHIR R4 base URL')
    .option('--client-id <id>', 'client id as registered with the EMR')
    .option('--secret-env <NAME>', 'environment variable of the client secret or token (default <ID>_SECRET)')
    .option('--token-url <url>', 'token endpoint (default: discovered)')
    .option('--group <id>', 'Group of the programme’s patients (Bulk Data)')
    .option('--time-zone <zone>', 'the clinic’s IANA time zone')
    .option('--out <file>', 'sources file to write', 'fhir-engage.config.yaml')
    .option('--force', 'overwrite an existing sources file')
    .option('--no-doctor', 'do not run doctor on the result')
    .option('-y, --yes', 'no questions: the flags only')
    .action(async (opts: InitOptions) => {
      const out = path.resolve(opts.out);
      if (existsSync(out) && !opts.force)
        throw configError(`${out} exists already: choose --out or add --force to replace it`, ['--out']);
      // Not the current sources file (it may be the one being replaced, or broken): only where keys go.
      const keysDir = path.resolve(envValue(process.env, 'FHIR_ENGAGE_KEYS_DIR') ?? './keys');
      let answers = await ask(opts, io);
      if (needsKey(answers.profile)) answers = await makeKey(answers, keysDir, io);
      const { yaml, envLines } = initSourcesFile(answers);
      mkdirSync(path.dirname(out), { recursive: true });
      writeFileSync(out, yaml);
      io.out(`written: ${out}`);
      writeEnvSkeleton(path.join(path.dirname(out), '.env'), envLines, io);
      setExit(await checkWritten(out, opts.doctor, io));
    });
}

/** The file as a sync would load it, then doctor; what to do next in either case. */
async function checkWritten(out: string, doctor: boolean, io: CliIo): Promise<number> {
  let written;
  try {
    written = loadConfig({ configFile: out });
  } catch (err) {
    if (!(err instanceof EngageError)) throw err;
    io.out(`not ready yet: ${describeError(err).replace(/^error: /, '')}`);
    io.out(
      `next: fill in .env, then run \`fhir-engage config check --config ${path.basename(out)}\` and \`fhir-engage doctor\``,
    );
    return ExitCode.ok;
  }
  if (!doctor) {
    io.out('next: `fhir-engage doctor` (each step with its fix), then `fhir-engage sync --dry-run`');
    return ExitCode.ok;
  }
  const source = written.sources[0];
  if (!source) return ExitCode.ok;
  const d = await diagnoseSource(source);
  io.out(`doctor: ${d.ok ? 'a sync would work' : 'a sync would NOT work yet'}`);
  for (const c of d.checks.filter((x) => x.status === 'fail' || x.status === 'warn'))
    io.out(`  ${c.status === 'fail' ? '✗' : '!'} ${c.step}: ${c.detail}${c.fix ? `\n      fix: ${c.fix}` : ''}`);
  const keyRefused =
    source.auth.type === 'smart-backend' && d.checks.some((c) => c.step === 'token' && c.status === 'fail');
  if (keyRefused) {
    // The usual first failure of a new Backend Services client: nothing publishes its public key yet.
    const { host, port } = written.service;
    io.out(
      `the EMR reads your public key from the JWKS URL registered with it: \`fhir-engage serve\` publishes it at http://${host === '0.0.0.0' ? 'localhost' : host}:${port}/.well-known/jwks.json (register your https address of it; \`fhir-engage keys jwks\` prints the keys to paste instead)`,
    );
  }
  io.out(
    d.ok
      ? 'next: `fhir-engage sync --dry-run` (the plan, nothing written), then `fhir-engage sync` (its first writes wait for `fhir-engage approve`)'
      : `next: ${keyRefused ? 'start `fhir-engage serve`, then' : 'the fixes above (docs/onboarding/), then'} \`fhir-engage doctor\` again`,
  );
  return ExitCode.ok;
}
