/**
 * Loading of the sources file: parse (YAML or JSON), expand ${ENV_VAR}
 * references, validate against config.schema.json with ajv, then check what
 * a schema cannot (unique ids, cron syntax, key files). Every problem is
 * reported with the file, the line and the field path.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import type { Document, LineCounter } from 'yaml';
import { parseYamlText, readTextFile } from '../text-file';
import cron from 'node-cron';
import schema from './config.schema.json';
import { configError, configErrors } from '../errors';
import type { Env } from '../log/levels';
import type { SourcesFile } from './types';
import { isTimeZone } from '../local-time';

const notAZone = (zone: string): string =>
  `is not an IANA time zone this runtime knows: '${zone}' (write it as Region/City, e.g. America/Chicago or Europe/Madrid)`;

type PathSegment = string | number;

interface Problem {
  text: string;
  path: PathSegment[];
}

/** Fields whose value is a credential: they must come from the environment. */
const SECRET_FIELDS = new Set(['token', 'password', 'clientSecret', 'secret']);

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

let compiled: ReturnType<Ajv['compile']> | undefined;

function validator(): ReturnType<Ajv['compile']> {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, useDefaults: true, discriminator: true, strict: false, verbose: true });
    compiled = ajv.compile(schema);
  }
  return compiled;
}

/** `sources[0].auth.token`: the field path as people write it. */
export function formatPath(segments: PathSegment[]): string {
  let out = '';
  for (const s of segments) {
    out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  }
  return out === '' ? '(root)' : out;
}

function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') {
    return [];
  }
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function lineOf(doc: Document, lines: LineCounter, segments: PathSegment[]): number | undefined {
  // Walk up until a node exists (a missing field is reported at its parent).
  for (let n = segments.length; n >= 0; n--) {
    const node = doc.getIn(segments.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) {
      return lines.linePos(node.range[0]).line;
    }
  }
  return undefined;
}

/** What a schema pattern asks, in words (never the regular expression). */
export const PATTERNS_IN_WORDS: Record<string, string> = {
  '^https?://': 'must be an http:// or https:// address',
  '^https?://[^/?#\\s]+/?$': 'must be an http:// or https:// origin: scheme, host and port, no path',
  '^(https?|urn):': 'must be an http://, https:// or urn: identifier',
  '^[^@\\s]+@[^@\\s]+$': 'must be an email address',
  '^\\+[1-9][0-9]{6,14}$': 'must be a phone number in international form: + and the digits, e.g. +15550100',
  '^\\+[1-9][0-9]{0,3}$': 'must be a country code: + and one to four digits, e.g. +1',
  '^\\+?[0-9][0-9 -]{1,20}$': 'must be a phone number: digits, spaces and dashes, + first if need be, e.g. 988',
  '^([01][0-9]|2[0-3]):[0-5][0-9]$': 'must be a time of day as HH:MM (24 hours), e.g. 09:00',
  '^[A-Za-z0-9\\-.]{1,64}$': 'must be 1 to 64 letters, digits, dashes or dots (a FHIR id)',
  '^[a-z0-9][a-z0-9\\-]{0,62}$': 'must be lower-case letters, digits and dashes, starting with a letter or digit',
  '^[a-z0-9][a-z0-9_-]{0,62}$':
    'must be lower-case letters, digits, dashes and underscores, starting with a letter or digit',
  '^[A-Z][A-Za-z]+/[A-Za-z0-9\\-.]+$': 'must be a reference such as Organization/123',
  '^[A-Z][A-Za-z]+\\?.+': 'must be a FHIR search such as Appointment?status=booked',
  '^(Practitioner|PractitionerRole|Location|HealthcareService)/[A-Za-z0-9\\-.]{1,64}$':
    'must be a reference to a Practitioner, PractitionerRole, Location or HealthcareService, e.g. Practitioner/123',
};

function patternInWords(pattern: string, schema: { description?: string } | undefined): string {
  const known = PATTERNS_IN_WORDS[pattern];
  if (known) return known;
  const described = schema?.description ? `: ${schema.description.split(/(?<=\.)\s/)[0]}` : '';
  return `is not in the form this field takes${described}`;
}

/** Edit distance (Levenshtein), case-insensitive: how far a mistyped key is from a known one. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let row = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const next = [i];
    for (let j = 1; j <= y.length; j++)
      next[j] = Math.min(
        (next[j - 1] as number) + 1,
        (row[j] as number) + 1,
        (row[j - 1] as number) + (x[i - 1] === y[j - 1] ? 0 : 1),
      );
    row = next;
  }
  return row[y.length] as number;
}

/** The known key a mistyped one most likely meant: within 2 edits (1 for short keys), else none. */
export function closest(key: string, known: string[]): string | undefined {
  const limit = key.length <= 4 ? 1 : 2;
  const ranked = known.map((k) => ({ k, d: distance(key, k) })).sort((a, b) => a.d - b.d);
  return ranked[0] && ranked[0].d <= limit ? ranked[0].k : undefined;
}

function describeAjvError(e: ErrorObject): Problem {
  const at = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: [...at, String(p.missingProperty)], text: 'is required' };
    case 'additionalProperties': {
      const known = Object.keys(
        (e.parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties ?? {},
      );
      const guess = closest(String(p.additionalProperty), known);
      return {
        path: [...at, String(p.additionalProperty)],
        text: `is not a known field${guess ? `; did you mean \`${guess}\`?` : ''}`,
      };
    }
    case 'enum':
      return {
        path: at,
        text: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'const':
      return { path: at, text: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'discriminator':
      return {
        path: [...at, 'type'],
        text: `must be one of "none", "bearer", "basic", "client_credentials", "smart-backend"`,
      };
    case 'pattern':
      return { path: at, text: patternInWords(String(p.pattern), e.parentSchema as { description?: string }) };
    case 'maxProperties':
    case 'minProperties':
      // Only an enrolment criterion limits its fields: it is one of several kinds, named by its one key.
      return {
        path: at,
        text: 'must name exactly one criterion: group, carePlan, appointment, questionnaire, patients, any or all',
      };
    default:
      return { path: at, text: e.message ?? e.keyword };
  }
}

/**
 * Replaces ${VAR} in every string; records a problem for each variable that
 * is unset, and for each secret field written as a literal.
 */
function expandEnv(value: unknown, env: Env, at: PathSegment[], problems: Problem[]): unknown {
  if (typeof value === 'string') {
    const key = at[at.length - 1];
    if (typeof key === 'string' && SECRET_FIELDS.has(key) && !/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(value.trim())) {
      problems.push({
        path: at,
        text: 'is a secret and must be an ${ENV_VAR} reference, not a literal value in the file',
      });
    }
    return value.replace(ENV_REF, (_m, name: string) => {
      const v = env[name];
      if (v === undefined || v === '') {
        problems.push({
          path: at,
          text: `refers to environment variable ${name}, which is not set: set it in .env or the environment`,
        });
        // Left as written, so the schema does not report a second, misleading problem.
        return `\${${name}}`;
      }
      return v;
    });
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => expandEnv(v, env, [...at, i], problems));
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = expandEnv(v, env, [...at, k], problems);
    }
    return out;
  }
  return value;
}

/** Defaults ajv cannot place (behind a $ref), applied after validation. */
function applyDefaults(file: SourcesFile): void {
  for (const s of file.sources) {
    s.auth ??= { type: 'none' };
    s.pull.bulk.level ??= s.pull.bulk.groupId ? 'group' : 'system';
    if (s.mode === 'per-patient') s.perPatientGroup ??= s.pull.bulk.groupId;
    if (s.auth.type === 'smart-backend') {
      s.auth.algorithm ??= 'RS384';
      s.auth.scope ??= 'system/*.read system/*.write';
    }
  }
}

function semanticProblems(file: SourcesFile, baseDir: string, fileExists: (p: string) => boolean): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  file.sources.forEach((s, i) => {
    const first = seen.get(s.id);
    if (first !== undefined) {
      problems.push({ path: ['sources', i, 'id'], text: `duplicates the id of sources[${first}]` });
    } else {
      seen.set(s.id, i);
    }
    if (s.schedule !== undefined && !cron.validate(s.schedule)) {
      problems.push({ path: ['sources', i, 'schedule'], text: `is not a valid cron expression: "${s.schedule}"` });
    }
    if (s.auth.type === 'smart-backend') {
      const keyPath = path.resolve(baseDir, s.auth.keyFile);
      if (!fileExists(keyPath)) {
        problems.push({
          path: ['sources', i, 'auth', 'keyFile'],
          text: `names a file that cannot be read: ${keyPath}`,
        });
      } else {
        s.auth.keyFile = keyPath;
      }
    }
    for (const [field, url] of [
      ['baseUrl', s.baseUrl],
      ...(s.writeTarget ? [['writeTarget', s.writeTarget.baseUrl]] : []),
    ] as [string, string][]) {
      // user:password@host would put a secret in logs and error messages: credentials belong in auth.
      if (/^https?:\/\/[^/?#]*@/.test(url))
        problems.push({
          path: field === 'baseUrl' ? ['sources', i, 'baseUrl'] : ['sources', i, 'writeTarget', 'baseUrl'],
          text: 'must not contain credentials (user:password@): put them in auth, as ${ENV_VAR} references',
        });
    }
    if (s.tls?.caFile) {
      const caPath = path.resolve(baseDir, s.tls.caFile);
      if (!fileExists(caPath))
        problems.push({ path: ['sources', i, 'tls', 'caFile'], text: `names a file that cannot be read: ${caPath}` });
      else s.tls.caFile = caPath;
    }
    if (s.pull.bulk.level === 'group' && !s.pull.bulk.groupId) {
      problems.push({
        path: ['sources', i, 'pull', 'bulk', 'groupId'],
        text: 'is required when pull.bulk.level is group (the id of the Group to export)',
      });
    }
    if (s.timeZone && !isTimeZone(s.timeZone))
      problems.push({ path: ['sources', i, 'timeZone'], text: notAZone(s.timeZone) });
    const programmeIds = new Map<string, number>();
    (s.programmes ?? []).forEach((p, j) => {
      if (p.timeZone && !isTimeZone(p.timeZone))
        problems.push({ path: ['sources', i, 'programmes', j, 'timeZone'], text: notAZone(p.timeZone) });
      const earlier = programmeIds.get(p.id);
      if (earlier !== undefined)
        problems.push({
          path: ['sources', i, 'programmes', j, 'id'],
          text: `duplicates the id of programmes[${earlier}]`,
        });
      else programmeIds.set(p.id, j);
    });
    if (s.mode === 'per-patient' && !s.resourceTypes.includes('Patient')) {
      problems.push({
        path: ['sources', i, 'resourceTypes'],
        text: 'must include Patient when mode is per-patient (the patients to search come from the Patient pull)',
      });
    }
  });
  return problems;
}

function readable(p: string): boolean {
  try {
    readFileSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses, expands and validates the text of a sources file. `file` is used
 * in messages and to resolve relative key paths.
 */
export function parseSourcesFile(text: string, file: string, env: Env): SourcesFile {
  const { doc, lines, data: raw } = parseYamlText(text, file, 'YAML/JSON');
  const where = (segments: PathSegment[]): string => {
    const line = lineOf(doc, lines, segments);
    return line === undefined ? file : `${file}:${line}`;
  };
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw configError(`${file}: must be a mapping with a "sources" list`);
  }
  const problems: Problem[] = [];
  const expanded = expandEnv(raw, env, [], problems);
  const validate = validator();
  if (!validate(expanded)) {
    for (const e of validate.errors ?? []) {
      // oneOf failures repeat what the discriminator already says.
      if (e.keyword === 'oneOf') {
        continue;
      }
      problems.push(describeAjvError(e));
    }
  }
  if (problems.length === 0) {
    applyDefaults(expanded as SourcesFile);
    problems.push(...semanticProblems(expanded as SourcesFile, path.dirname(path.resolve(file)), readable));
  }
  if (problems.length > 0) {
    const unique = new Map<string, Problem>();
    for (const p of problems) {
      unique.set(`${formatPath(p.path)} ${p.text}`, p);
    }
    throw configErrors(
      [...unique.values()].map((p) => ({
        text: `${where(p.path)}: ${formatPath(p.path)} ${p.text}`,
        expression: [formatPath(p.path)],
      })),
    );
  }
  return expanded as SourcesFile;
}

/** Reads and validates a sources file from disk. */
export function loadSourcesFile(file: string, env: Env): SourcesFile {
  return parseSourcesFile(readTextFile(file, 'sources file'), file, env);
}
