/**
 * The steps of `doctor` (src/fhir/doctor.ts), in order: each adds its checks to the run, and the
 * first two say whether the next can go on. Nothing is stored; the write test creates one labelled
 * Task and cancels it.
 */
import { randomUUID } from 'node:crypto';
import type { CapabilityStatement, Task } from '@medplum/fhirtypes';
import type { SourceConfig } from '../config/types';
import { describeError, HttpError } from '../errors';
import { redactUrl } from '../log/redact';
import { groupMembers } from '../mapping/enrolment';
import { cancelExport, kickOff } from './bulk';
import { requestFor } from './bulk-pull';
import { assessCapabilities, type CapabilityReport } from './capabilities';
import type { FhirClient } from './client';
import { explainNetworkError, explainTokenError, type Check } from './doctor-explain';
import { isPerPatient, readGroup } from './per-patient';
import { createWriteClient, type TransportStats } from './source-client';

const DOCTOR_SYSTEM = 'urn:fhir-engage:doctor';

/** What every step works with, and the checks found so far. */
export interface DoctorRun {
  source: SourceConfig;
  host: string;
  /** With the source's credentials. */
  client: FhirClient;
  /** Without credentials: metadata and discovery are usually open. */
  open: FhirClient;
  stats: TransportStats;
  bulkOnly: boolean;
  checks: Check[];
}

const add = (d: DoctorRun, c: Check): void => void d.checks.push(c);

async function searchCheck(
  client: FhirClient,
  type: string,
  query: string,
): Promise<{ ok: true; firstId?: string } | { ok: false; err: unknown }> {
  try {
    const bundle = await client.getBundle(`${type}?${query}`);
    return { ok: true, firstId: bundle.entry?.find((e) => e.resource?.resourceType === type)?.resource?.id };
  } catch (err) {
    return { ok: false, err };
  }
}

/** Plain http:// to a host other than this machine. */
export function checkTransport(d: DoctorRun): void {
  if (d.source.baseUrl.startsWith('http://') && !/^(localhost|127\.|\[::1\])/.test(d.host)) {
    add(d, {
      step: 'transport',
      status: 'warn',
      detail: `plain http:// to ${d.host}: patient data would cross the network unencrypted`,
      fix: 'use the https:// base URL',
    });
  }
}

/** 1–2. Reachability and the CapabilityStatement (usually open; retried with the credentials if not). Undefined: unreachable. */
export async function checkMetadata(d: DoctorRun): Promise<{ caps?: CapabilityReport } | undefined> {
  const { source, host } = d;
  let statement: CapabilityStatement | undefined;
  for (const c of [d.open, d.client]) {
    try {
      statement = await c.getOk<CapabilityStatement>('metadata');
      break;
    } catch (err) {
      if (err instanceof HttpError && err.status === undefined) {
        const why = explainNetworkError(describeError(err), host);
        add(d, { step: 'reach', status: 'fail', detail: why.detail, fix: why.fix });
        return undefined;
      }
      if (c === d.client)
        add(d, {
          step: 'metadata',
          status: 'warn',
          detail: `GET ${redactUrl(source.baseUrl)}/metadata: ${failureWithAnswer(err)}`,
          fix: 'without a CapabilityStatement, every type is assumed searchable with _lastUpdated',
        });
    }
  }
  add(d, { step: 'reach', status: 'ok', detail: `${host} answers` });
  const caps =
    statement?.resourceType === 'CapabilityStatement' ? assessCapabilities(statement, source.resourceTypes) : undefined;
  if (caps) checkOffered(d, caps);
  return { caps };
}

/** What the CapabilityStatement says of the version, transactions, export and each configured type. */
function checkOffered(d: DoctorRun, caps: CapabilityReport): void {
  const { source, bulkOnly } = d;
  const version = caps.fhirVersion ?? 'unknown';
  add(d, {
    step: 'metadata',
    status: version.startsWith('4.0') ? 'ok' : 'warn',
    detail: `FHIR ${version}${caps.software ? ` (${caps.software})` : ''}; transactions: ${caps.transactions ? 'yes (batched writes)' : 'no (one request per write)'}; Bulk Data export: ${caps.bulkExport ? 'yes' : 'no'}`,
  });
  for (const type of source.resourceTypes) {
    const t = caps.types[type];
    // A source pulled only by export needs each type offered, not searchable.
    const refused = t !== undefined && (bulkOnly ? !t.listed : !t.searchable);
    if (refused)
      add(d, {
        step: `metadata ${type}`,
        status: 'fail',
        detail: t?.note ?? `${type} cannot be searched`,
        fix: `remove ${type} from resourceTypes, or ask the EMR team to enable it`,
      });
    else if (t && !t.lastUpdated && !bulkOnly)
      add(d, {
        step: `metadata ${type}`,
        status: 'warn',
        detail: t.note ?? `${type}: no _lastUpdated`,
        fix: 'each run pulls this type in full (unchanged resources are skipped by hash)',
      });
  }
  if (bulkOnly && !caps.bulkExport)
    add(d, {
      step: 'metadata bulk',
      status: 'warn',
      detail: 'pull.method is bulk but the CapabilityStatement lists no export operation (a kick-off is tried below)',
      fix: 'check that Bulk Data is enabled for this client, or use pull.method: auto',
    });
}

/** 3. SMART discovery of the token endpoint, when the source does not name it. */
async function checkDiscovery(d: DoctorRun): Promise<void> {
  try {
    const conf = await d.open.getOk<{ token_endpoint?: string }>('.well-known/smart-configuration');
    add(
      d,
      conf.token_endpoint
        ? { step: 'smart-configuration', status: 'ok', detail: `token endpoint ${redactUrl(conf.token_endpoint)}` }
        : {
            step: 'smart-configuration',
            status: 'fail',
            detail: 'no token_endpoint in .well-known/smart-configuration',
            fix: 'set auth.tokenUrl',
          },
    );
  } catch (err) {
    add(d, {
      step: 'smart-configuration',
      status: 'fail',
      detail: failureWithAnswer(err),
      fix: 'set auth.tokenUrl to the EMR’s token endpoint',
    });
  }
}

/** 3–4. Discovery and the token, with the scopes granted against those asked. False: no token (nothing more can work). */
export async function checkToken(d: DoctorRun): Promise<boolean> {
  const { source } = d;
  if (source.auth.type !== 'client_credentials' && source.auth.type !== 'smart-backend') return true;
  if (source.auth.type === 'smart-backend' && !source.auth.tokenUrl) await checkDiscovery(d);
  try {
    const grant = await d.client.checkAuthorization();
    const asked = (source.auth.scope ?? '').split(/\s+/).filter(Boolean);
    const granted = grant?.scope?.split(/\s+/).filter(Boolean);
    const missing = granted ? asked.filter((s) => !granted.includes(s)) : [];
    add(
      d,
      missing.length
        ? {
            step: 'token',
            status: 'warn',
            detail: `token issued, but without ${missing.join(' ')} (granted: ${granted?.join(' ')})`,
            fix: 'searches or writes needing those scopes will be refused: have them added to the registration',
          }
        : {
            step: 'token',
            status: 'ok',
            detail: `token issued${granted ? ` with ${granted.join(' ')}` : ''}, valid ${Math.round(((grant?.expiresAt ?? Date.now()) - Date.now()) / 1000)} s`,
          },
    );
    return true;
  } catch (err) {
    const why = explainTokenError(err, source);
    add(d, { step: 'token', status: 'fail', detail: why.detail, fix: why.fix });
    return false;
  }
}

/** 5 (bulk-only source). A trial kick-off of the configured export, cancelled at once. */
export async function checkBulkKickOff(d: DoctorRun, caps: CapabilityReport | undefined): Promise<void> {
  const { source, client } = d;
  const offered = source.resourceTypes.filter((t) => caps?.types[t]?.listed !== false);
  try {
    const statusUrl = await kickOff(client, requestFor(source.pull.bulk, offered, undefined));
    await cancelExport(client, statusUrl).catch(() => undefined);
    add(d, {
      step: 'bulk export',
      status: 'ok',
      detail: `a ${source.pull.bulk.level}-level export of ${offered.join(', ')} was accepted (and cancelled at once)`,
    });
  } catch (err) {
    const code = err instanceof HttpError ? err.status : undefined;
    add(d, {
      step: 'bulk export',
      status: 'fail',
      detail: failureWithAnswer(err),
      fix:
        code === 401 || code === 403
          ? `the registration needs system/<Type>.read (SMART v1) or system/<Type>.rs (v2) for ${offered.join(', ')}, and Bulk Data access`
          : code === 404 && source.pull.bulk.level === 'group'
            ? 'check pull.bulk.groupId: the server does not know that Group'
            : "the server's answer is quoted above; pull.bulk.level and typeFilter must be what the server supports",
    });
  }
}

/** The Group whose members a per-patient source searches: readable, and its first member (to try searches with). */
async function checkMembers(d: DoctorRun, groupId: string): Promise<string | undefined> {
  try {
    const members = [...groupMembers(await readGroup(d.client, groupId), new Date())].sort();
    add(d, {
      step: `read Group/${groupId}`,
      status: members.length ? 'ok' : 'warn',
      detail: `${members.length} member(s): the patients searched one by one`,
      ...(members.length ? {} : { fix: "ask your EMR team to fill the Group (the programme's registry or list)" }),
    });
    return members[0];
  } catch (err) {
    add(d, {
      step: `read Group/${groupId}`,
      status: 'fail',
      detail: failureWithAnswer(err),
      fix: 'check perPatientGroup (default pull.bulk.groupId): the id of a Group your app may read',
    });
    return undefined;
  }
}

/** 5. One search per type (per patient where the source says so), Patient first. */
export async function checkSearches(d: DoctorRun): Promise<void> {
  const { source } = d;
  let patientId =
    source.mode === 'per-patient' && source.perPatientGroup ? await checkMembers(d, source.perPatientGroup) : undefined;
  const refused: string[] = [];
  for (const type of [...source.resourceTypes].sort((a, b) => (a === 'Patient' ? -1 : b === 'Patient' ? 1 : 0))) {
    const perPatient = isPerPatient(source, type);
    const scope = type === 'Patient' ? '_id' : 'patient';
    const query = perPatient && patientId ? `${scope}=${encodeURIComponent(patientId)}&_count=1` : '_count=1';
    const got = await searchCheck(d.client, type, query);
    if (got.ok) {
      if (type === 'Patient') patientId = got.firstId;
      add(d, {
        step: `search ${type}`,
        status: 'ok',
        detail: `${perPatient ? 'per-patient ' : ''}search answered${got.firstId ? '' : ' (no resources yet)'}`,
      });
      continue;
    }
    const code = got.err instanceof HttpError ? got.err.status : undefined;
    if (code === 400 && !perPatient) refused.push(type);
    add(d, searchFailure(type, got.err, code, perPatient));
  }
  // One fix for every type the server wants searched per patient.
  const others = refused.filter((t) => t !== 'Patient');
  const fix = refused.includes('Patient')
    ? "the server answers no population search (as Epic): set mode: per-patient with perPatientGroup, the Group of the programme's patients (default pull.bulk.groupId); docs/onboarding/epic.md"
    : `set mode: per-patient on the source, with perPatientTypes: [${others.join(', ')}]`;
  for (const c of d.checks) if (refused.some((t) => c.step === `search ${t}`)) c.fix = fix;
}

/** The failure in words with what the server answered (status, content type, its first bytes redacted). */
export function failureWithAnswer(err: unknown): string {
  const answer = err instanceof HttpError ? err.answer : undefined;
  if (!answer) return describeError(err);
  const what = answer.excerpt ? `"${answer.excerpt}"` : 'an empty body';
  return `${describeError(err)}; it answered${answer.contentType ? ` (${answer.contentType.split(';')[0]})` : ''} ${what}`;
}

function searchFailure(type: string, err: unknown, code: number | undefined, perPatient: boolean): Check {
  if (code === 400 && !perPatient)
    return { step: `search ${type}`, status: 'fail', detail: `a system-wide search of ${type} is refused (HTTP 400)` };
  if (code === 401 || code === 403)
    return {
      step: `search ${type}`,
      status: 'fail',
      detail: `${type} search not permitted (HTTP ${code})`,
      fix: `the registration needs system/${type}.read (or the user/role behind the client lacks access)`,
    };
  return {
    step: `search ${type}`,
    status: 'fail',
    detail: failureWithAnswer(err),
    fix: 'the EMR’s answer is quoted above (what its server or a proxy in front of it said); `sync` would fail this type and hold its patients back',
  };
}

/** 6. Write permission: the write target answers Task and Observation (and EpisodeOfCare, when written) searches; with `writeTest`, a Task is written. */
export async function checkWrites(d: DoctorRun, writeTest: boolean): Promise<void> {
  const { source } = d;
  const writer = source.writeTarget ? createWriteClient({ ...source, maxRetries: 0 }, d.stats) : d.client;
  for (const type of ['Task', 'Observation', ...(source.episodesOfCare ? ['EpisodeOfCare'] : [])]) {
    const got = await searchCheck(writer, type, `identifier=${encodeURIComponent(`${DOCTOR_SYSTEM}|`)}&_summary=count`);
    add(
      d,
      got.ok
        ? {
            step: `write ${type}`,
            status: 'ok',
            detail: `the write target answers ${type} searches (a write itself is tried with --write-test)`,
          }
        : {
            step: `write ${type}`,
            status: 'fail',
            detail: `the write target refuses ${type}: ${describeError(got.err)}`,
            fix: `grant system/${type}.read and system/${type}.write, or set writeBack: false`,
          },
    );
  }
  if (writeTest) await writeTestTask(d, writer);
}

/** One clearly labelled test Task, created and cancelled at once. */
async function writeTestTask(d: DoctorRun, writer: FhirClient): Promise<void> {
  const value = `doctor-${randomUUID()}`;
  const task: Task = {
    resourceType: 'Task',
    status: 'draft',
    intent: 'proposal',
    identifier: [{ system: DOCTOR_SYSTEM, value }],
    description: 'fhir-engage doctor: connectivity test Task, cancelled at once. Safe to ignore.',
  };
  try {
    const created = await writer.request<Task>('POST', 'Task', {
      body: task,
      headers: { 'if-none-exist': `identifier=${DOCTOR_SYSTEM}|${value}`, prefer: 'return=representation' },
    });
    if (created.status !== 201 && created.status !== 200) throw writer.errorFor('POST', created);
    const id = created.body?.id;
    if (id) {
      const cancelled = await writer.request<Task>('PUT', `Task/${id}`, {
        body: { ...created.body, status: 'cancelled' },
      });
      if (cancelled.status >= 300) throw writer.errorFor('PUT', cancelled);
    }
    add(d, {
      step: 'write test',
      status: 'ok',
      detail: `a test Task was created and cancelled (identifier ${DOCTOR_SYSTEM}|${value})`,
    });
  } catch (err) {
    add(d, {
      step: 'write test',
      status: 'fail',
      detail: failureWithAnswer(err),
      fix: 'the registration needs system/Task.write; some EMRs also require Task.for or an owner',
    });
  }
}
