/**
 * `fhir-engage doctor`: checks a source step by step before any sync —
 * reachability (DNS, TLS, proxy), the CapabilityStatement, SMART discovery,
 * the token request, one search per type, and write permission — and says
 * for each failure what is wrong and how to fix it. Nothing is stored; with
 * `writeTest`, one clearly labelled test Task is created and cancelled.
 */
import { randomUUID } from 'node:crypto';
import type { CapabilityStatement, Task } from '@medplum/fhirtypes';
import type { SourceConfig } from '../config/types';
import { describeError, HttpError } from '../errors';
import { redactUrl } from '../log/redact';
import { cancelExport, kickOff } from './bulk';
import { requestFor } from './bulk-pull';
import { assessCapabilities } from './capabilities';
import type { FhirClient } from './client';
import { createSourceClient, createWriteClient, newTransportStats } from './source-client';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  step: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

export interface Diagnosis {
  sourceId: string;
  /** True when a sync would work (no check failed). */
  ok: boolean;
  checks: Check[];
}

const DOCTOR_SYSTEM = 'urn:fhir-engage:doctor';

/** What a network failure means, in the words an integration engineer needs (pure). */
export function explainNetworkError(text: string, host: string): { detail: string; fix: string } {
  const code = /\(([A-Z_]+)\)/.exec(text)?.[1] ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return {
      detail: `the host ${host} cannot be resolved (DNS)`,
      fix: 'check baseUrl; inside a hospital network, the name may need the internal DNS or a proxy (HTTPS_PROXY)',
    };
  if (code === 'ECONNREFUSED')
    return {
      detail: `${host} refused the connection`,
      fix: 'check the port in baseUrl and that the server (or the proxy in HTTPS_PROXY) is up',
    };
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || /no response within/.test(text))
    return {
      detail: `${host} did not answer in time`,
      fix: 'a firewall may drop the traffic: ask for the route to be opened, or set HTTPS_PROXY to the hospital proxy',
    };
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code))
    return {
      detail: `the certificate of ${host} is not trusted (${code})`,
      fix: "set tls.caFile on the source to the hospital's CA bundle (PEM)",
    };
  return {
    detail: `${host} could not be reached: ${text}`,
    fix: 'check baseUrl, the network route and HTTPS_PROXY/NO_PROXY',
  };
}

/** Why a token request failed, and what to change (pure). */
export function explainTokenError(err: unknown, source: SourceConfig): { detail: string; fix: string } {
  const text = describeError(err);
  const asked =
    source.auth.type === 'client_credentials' || source.auth.type === 'smart-backend' ? source.auth.scope : undefined;
  if (/invalid_scope/.test(text))
    return {
      detail: `the token endpoint refused the scopes asked (${asked ?? 'none'})`,
      fix: 'ask only for scopes the registration grants (system/<Type>.read for each pulled type, system/Task.write and system/Observation.write for write-back), or have them added to the registration',
    };
  if (/invalid_client|HTTP 401/.test(text)) {
    return source.auth.type === 'smart-backend'
      ? {
          detail: 'the token endpoint does not accept this client',
          fix: 'check auth.clientId, and that the public key of auth.keyFile is registered (its JWKS URL /.well-known/jwks.json, kid = auth.keyId) with the same algorithm',
        }
      : {
          detail: 'the token endpoint does not accept this client id and secret',
          fix: 'check auth.clientId and the secret the environment variable holds',
        };
  }
  if (/token_endpoint|discover/.test(text)) return { detail: text, fix: 'set auth.tokenUrl explicitly' };
  return { detail: text, fix: "check auth.tokenUrl and the EMR's token endpoint" };
}

function status(checks: Check[]): boolean {
  return !checks.some((c) => c.status === 'fail');
}

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

export async function diagnoseSource(source: SourceConfig, options: { writeTest?: boolean } = {}): Promise<Diagnosis> {
  const checks: Check[] = [];
  const add = (c: Check): void => void checks.push(c);
  const stats = newTransportStats();
  const host = new URL(source.baseUrl).host;
  const client = createSourceClient({ ...source, maxRetries: 0 }, stats);
  const open = createSourceClient({ ...source, auth: { type: 'none' }, maxRetries: 0 }, stats);
  const bulkOnly = source.pull.method === 'bulk';

  if (source.baseUrl.startsWith('http://') && !/^(localhost|127\.|\[::1\])/.test(host)) {
    add({
      step: 'transport',
      status: 'warn',
      detail: `plain http:// to ${host}: patient data would cross the network unencrypted`,
      fix: 'use the https:// base URL',
    });
  }

  // 1–2. Reachability and the CapabilityStatement (usually open; retried with the credentials if not).
  let statement: CapabilityStatement | undefined;
  for (const c of [open, client]) {
    try {
      statement = await c.getOk<CapabilityStatement>('metadata');
      break;
    } catch (err) {
      if (err instanceof HttpError && err.status === undefined) {
        const why = explainNetworkError(describeError(err), host);
        add({ step: 'reach', status: 'fail', detail: why.detail, fix: why.fix });
        return { sourceId: source.id, ok: false, checks };
      }
      if (c === client)
        add({
          step: 'metadata',
          status: 'warn',
          detail: `GET ${redactUrl(source.baseUrl)}/metadata: ${describeError(err)}`,
          fix: 'without a CapabilityStatement, every type is assumed searchable with _lastUpdated',
        });
    }
  }
  add({ step: 'reach', status: 'ok', detail: `${host} answers` });
  const caps =
    statement?.resourceType === 'CapabilityStatement' ? assessCapabilities(statement, source.resourceTypes) : undefined;
  if (caps) {
    const version = caps.fhirVersion ?? 'unknown';
    add({
      step: 'metadata',
      status: version.startsWith('4.0') ? 'ok' : 'warn',
      detail: `FHIR ${version}${caps.software ? ` (${caps.software})` : ''}; transactions: ${caps.transactions ? 'yes (batched writes)' : 'no (one request per write)'}; Bulk Data export: ${caps.bulkExport ? 'yes' : 'no'}`,
    });
    for (const type of source.resourceTypes) {
      const t = caps.types[type];
      // A source pulled only by export needs each type offered, not searchable.
      const refused = t !== undefined && (bulkOnly ? !t.listed : !t.searchable);
      if (refused)
        add({
          step: `metadata ${type}`,
          status: 'fail',
          detail: t?.note ?? `${type} cannot be searched`,
          fix: `remove ${type} from resourceTypes, or ask the EMR team to enable it`,
        });
      else if (t && !t.lastUpdated && !bulkOnly)
        add({
          step: `metadata ${type}`,
          status: 'warn',
          detail: t.note ?? `${type}: no _lastUpdated`,
          fix: 'each run pulls this type in full (unchanged resources are skipped by hash)',
        });
    }
    if (bulkOnly && !caps.bulkExport)
      add({
        step: 'metadata bulk',
        status: 'warn',
        detail: 'pull.method is bulk but the CapabilityStatement lists no export operation (a kick-off is tried below)',
        fix: 'check that Bulk Data is enabled for this client, or use pull.method: auto',
      });
  }

  // 3–4. SMART discovery and the token.
  if (source.auth.type === 'client_credentials' || source.auth.type === 'smart-backend') {
    if (source.auth.type === 'smart-backend' && !source.auth.tokenUrl) {
      try {
        const conf = await open.getOk<{ token_endpoint?: string }>('.well-known/smart-configuration');
        add(
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
        add({
          step: 'smart-configuration',
          status: 'fail',
          detail: describeError(err),
          fix: 'set auth.tokenUrl to the EMR’s token endpoint',
        });
      }
    }
    try {
      const grant = await client.checkAuthorization();
      const asked = (source.auth.scope ?? '').split(/\s+/).filter(Boolean);
      const granted = grant?.scope?.split(/\s+/).filter(Boolean);
      const missing = granted ? asked.filter((s) => !granted.includes(s)) : [];
      add(
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
    } catch (err) {
      const why = explainTokenError(err, source);
      add({ step: 'token', status: 'fail', detail: why.detail, fix: why.fix });
      return { sourceId: source.id, ok: false, checks };
    }
  }

  // 5. What the configured pull method needs: a kick-off for a bulk-only source, else one search per type.
  if (bulkOnly) {
    const offered = source.resourceTypes.filter((t) => caps?.types[t]?.listed !== false);
    try {
      const statusUrl = await kickOff(client, requestFor(source.pull.bulk, offered, undefined));
      await cancelExport(client, statusUrl).catch(() => undefined);
      add({
        step: 'bulk export',
        status: 'ok',
        detail: `a ${source.pull.bulk.level}-level export of ${offered.join(', ')} was accepted (and cancelled at once)`,
      });
    } catch (err) {
      const code = err instanceof HttpError ? err.status : undefined;
      add({
        step: 'bulk export',
        status: 'fail',
        detail: describeError(err),
        fix:
          code === 401 || code === 403
            ? `the registration needs system/<Type>.read (SMART v1) or system/<Type>.rs (v2) for ${offered.join(', ')}, and Bulk Data access`
            : code === 404 && source.pull.bulk.level === 'group'
              ? 'check pull.bulk.groupId: the server does not know that Group'
              : "see the server's answer above; pull.bulk.level and typeFilter must be what the server supports",
      });
    }
  }
  let patientId: string | undefined;
  const refused: string[] = [];
  for (const type of bulkOnly
    ? []
    : [...source.resourceTypes].sort((a, b) => (a === 'Patient' ? -1 : b === 'Patient' ? 1 : 0))) {
    const perPatient =
      source.mode === 'per-patient' &&
      type !== 'Patient' &&
      (source.perPatientTypes ?? ['Appointment', 'CarePlan', 'QuestionnaireResponse', 'Task']).includes(type as never);
    const query = perPatient && patientId ? `patient=${encodeURIComponent(patientId)}&_count=1` : '_count=1';
    const got = await searchCheck(client, type, query);
    if (got.ok) {
      if (type === 'Patient') patientId = got.firstId;
      add({
        step: `search ${type}`,
        status: 'ok',
        detail: `${perPatient ? 'per-patient ' : ''}search answered${got.firstId ? '' : ' (no resources yet)'}`,
      });
      continue;
    }
    const err = got.err;
    const code = err instanceof HttpError ? err.status : undefined;
    if (code === 400 && !perPatient) {
      refused.push(type);
      add({ step: `search ${type}`, status: 'fail', detail: `a system-wide search of ${type} is refused (HTTP 400)` });
    } else if (code === 401 || code === 403) {
      add({
        step: `search ${type}`,
        status: 'fail',
        detail: `${type} search not permitted (HTTP ${code})`,
        fix: `the registration needs system/${type}.read (or the user/role behind the client lacks access)`,
      });
    } else {
      add({
        step: `search ${type}`,
        status: 'fail',
        detail: describeError(err),
        fix: 'see the EMR’s answer above; `sync` would fail this type and hold its patients back',
      });
    }
  }
  // One fix for every type the server wants searched per patient.
  for (const c of checks)
    if (refused.some((t) => c.step === `search ${t}`))
      c.fix = `set mode: per-patient on the source, with perPatientTypes: [${refused.join(', ')}]`;

  // 6. Write permission.
  if (source.writeBack) {
    const writer = source.writeTarget ? createWriteClient({ ...source, maxRetries: 0 }, stats) : client;
    for (const type of ['Task', 'Observation']) {
      const got = await searchCheck(
        writer,
        type,
        `identifier=${encodeURIComponent(`${DOCTOR_SYSTEM}|`)}&_summary=count`,
      );
      add(
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
    if (options.writeTest) {
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
        add({
          step: 'write test',
          status: 'ok',
          detail: `a test Task was created and cancelled (identifier ${DOCTOR_SYSTEM}|${value})`,
        });
      } catch (err) {
        add({
          step: 'write test',
          status: 'fail',
          detail: describeError(err),
          fix: 'the registration needs system/Task.write; some EMRs also require Task.for or an owner',
        });
      }
    }
  }
  return { sourceId: source.id, ok: status(checks), checks };
}
