/**
 * Scrubbing of anything that might hold PHI or secrets before it reaches a
 * log line. Pure functions, used by the logger's formatter so that every log
 * call goes through them.
 */

export const REDACTED = '[REDACTED]';

/** Keys whose values are credentials. */
const SECRET_KEYS = new Set([
  'authorization',
  'token',
  'access_token',
  'accesstoken',
  'refresh_token',
  'id_token',
  'password',
  'clientsecret',
  'client_secret',
  'client_assertion',
  'apikey',
  'api_key',
  'cookie',
  'set-cookie',
  'databaseurl',
]);

/**
 * Keys whose values identify or describe a person (FHIR Patient, RelatedPerson,
 * Practitioner elements and common free-text fields).
 */
const PHI_KEYS = new Set([
  'name',
  'given',
  'family',
  'text',
  'identifier',
  'telecom',
  'address',
  'birthdate',
  'contact',
  'photo',
  'display',
  'note',
  'description',
  'answer',
  'valuestring',
  'mrn',
  'ssn',
  'email',
  'phone',
]);

/**
 * Query values can carry PHI (`Patient?name=…`): keep parameter names only, each value shown as
 * `(hidden)` — a `*` would read like a wildcard search.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const base = (q === -1 ? url : url.slice(0, q)).replace(/\/\/[^/@]*@/, '//***@');
  if (q === -1) {
    return base;
  }
  const params = url
    .slice(q + 1)
    .split('&')
    .filter((p) => p.length > 0)
    .map((p) => `${decodeSafe(p.split('=')[0] ?? '')}=(hidden)`);
  return `${base}?${params.join('&')}`;
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function summariseResource(r: Record<string, unknown>): Record<string, unknown> {
  // A resource is reduced to what identifies it to an operator, never its content.
  return { resourceType: r.resourceType, id: r.id };
}

/**
 * An EMR's OperationOutcome may quote the data it rejected in its text: logs
 * keep the machine-readable part only (our own messages are in err.message).
 */
function summariseOutcome(o: Record<string, unknown>): Record<string, unknown> {
  const issues = Array.isArray(o.issue) ? (o.issue as Record<string, unknown>[]) : [];
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({ severity: i.severity, code: i.code, expression: i.expression })),
  };
}

function summariseError(err: Error, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message };
  const withOutcome = err as Error & { outcome?: unknown; kind?: unknown; code?: unknown };
  if (withOutcome.kind !== undefined) out.kind = withOutcome.kind;
  if (typeof withOutcome.code === 'string') out.code = withOutcome.code;
  if (withOutcome.outcome !== undefined) out.outcome = scrub(withOutcome.outcome, depth + 1);
  if (err.stack) out.stack = err.stack.split('\n').slice(1, 6).join('\n');
  // Driver errors (pg "detail", HTTP bodies) can quote stored values: they are not copied.
  if (err.cause instanceof Error) out.cause = summariseError(err.cause, depth + 1);
  return out;
}

const MAX_DEPTH = 8;

/** Returns a copy of `value` safe to log. */
export function scrub(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) {
    return '[…]';
  }
  if (value instanceof Error) {
    return summariseError(value, depth);
  }
  if (Array.isArray(value)) {
    return value.map((v) => scrub(v, depth + 1));
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    if (obj.resourceType === 'OperationOutcome') {
      return summariseOutcome(obj);
    }
    if (typeof obj.resourceType === 'string') {
      return summariseResource(obj);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      const key = k.toLowerCase();
      if (SECRET_KEYS.has(key) || PHI_KEYS.has(key)) {
        out[k] = REDACTED;
      } else if ((key === 'url' || key.endsWith('url')) && typeof v === 'string') {
        out[k] = redactUrl(v);
      } else {
        out[k] = scrub(v, depth + 1);
      }
    }
    return out;
  }
  return value;
}

/**
 * The first bytes of a server's answer, safe to show a person running `doctor`: printable text only,
 * whitespace collapsed, runs of 4 or more digits (ids, phone numbers, dates) and email addresses masked,
 * at most `max` characters. What is left says what kind of answer it was (an HTML login page, a proxy's
 * error, an OperationOutcome), not whose data it carried.
 */
export function answerExcerpt(body: unknown, max = 160): string {
  const text = typeof body === 'string' ? body : body === undefined || body === null ? '' : JSON.stringify(body);
  const clean = text
    .slice(0, max * 4)
    .replace(/[^\x20-\x7e\s]/g, '')
    .replace(/\s+/g, ' ')
    .replace(/[^@\s"'<>]+@[^@\s"'<>]+/g, '(email)')
    .replace(/\d{4,}/g, '#')
    .trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
