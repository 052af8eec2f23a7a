/**
 * Calls to fhir-engage's API as the person signed in (a session cookie and its CSRF token) or with
 * the key the user logged in with. The key lives in session storage (gone when the tab closes), never
 * in a URL. A 401 logs out: no API data stays on screen without a valid session or key.
 */
const KEY = 'fhir-engage.apiKey';

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    text: string,
  ) {
    super(text);
  }
}

/**
 * Who is signed in: an API key kept for this tab, or a person signed in with the organisation's
 * identity provider (a session cookie the page cannot read, and its CSRF token, kept in memory).
 */
let person: { name: string; csrf: string } | undefined;

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  set: (key: string): void => sessionStorage.setItem(KEY, key),
  clear: (): void => {
    sessionStorage.removeItem(KEY);
    person = undefined;
  },
  person: (): { name: string; csrf: string } | undefined => person,
  signedIn: (): boolean => person !== undefined || sessionStorage.getItem(KEY) !== null,
};

/** A person's session, if the browser has one (the cookie goes with every same-origin request). */
export async function resumeSession(): Promise<boolean> {
  const res = await fetch('api/me', { cache: 'no-store' });
  if (!res.ok) return false;
  const me = (await res.json()) as { kind: string; name: string; csrfToken?: string };
  if (me.kind !== 'person' || !me.csrfToken) return false;
  person = { name: me.name, csrf: me.csrfToken };
  return true;
}

/** How this service signs people in (an open route). */
export async function signInOptions(): Promise<{ sso: boolean; provider?: string; login?: string }> {
  const res = await fetch('api/sign-in', { cache: 'no-store' });
  return res.ok ? ((await res.json()) as { sso: boolean; provider?: string; login?: string }) : { sso: false };
}

/** Signs a person out here and at the identity provider: where the browser goes next. */
export async function signOut(): Promise<string> {
  const res = await fetch('api/logout', { method: 'POST', headers: { 'x-csrf-token': person?.csrf ?? '' } });
  person = undefined;
  return res.ok ? ((await res.json()) as { next: string }).next : '/';
}

let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

async function call(
  method: string,
  path: string,
  body?: unknown,
  candidate?: string,
  answered: (status: number) => boolean = () => false,
): Promise<Response> {
  const key = candidate ?? session.key();
  // A key goes as a header; a person's session goes as its cookie, a change with its CSRF token.
  const auth: Record<string, string> = key ? { 'x-api-key': key } : person ? { 'x-csrf-token': person.csrf } : {};
  const res = await fetch(`api${path}`, {
    method,
    headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  if (res.status === 401) {
    // A key being tried is only refused; the session's key being refused ends the session.
    if (candidate === undefined) {
      session.clear();
      onUnauthorized();
    }
    throw new Unauthorized('not signed in');
  }
  if (!res.ok && !answered(res.status)) {
    const outcome = (await res.json().catch(() => undefined)) as
      { issue?: { details?: { text?: string } }[] } | undefined;
    throw new ApiError(res.status, outcome?.issue?.[0]?.details?.text ?? `HTTP ${res.status}`);
  }
  return res;
}

export async function get<T>(path: string): Promise<T> {
  return (await call('GET', path)).json() as Promise<T>;
}

export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  return (await call('POST', path, body)).json() as Promise<T>;
}

/**
 * A care-team write (docs/care-team.md): its answer is read whatever it says — written, queued (202),
 * a conflict (409: the Task moved) or refused by the EMR (422) — so the person sees what happened.
 */
export async function postWrite<T>(path: string, body: unknown): Promise<{ status: number; body: T }> {
  const res = await call('POST', path, body, undefined, (s) => s === 409 || s === 422);
  const answer = (await res.json()) as T & { state?: string; issue?: { details?: { text?: string } }[] };
  // A 409 that is an OperationOutcome (the Task has ended) is an error like any other.
  if (!res.ok && !answer.state)
    throw new ApiError(res.status, answer.issue?.[0]?.details?.text ?? `HTTP ${res.status}`);
  return { status: res.status, body: answer };
}

/** An id for one request of a person's (sent twice, it is written once): random, from any page (no secure context needed). */
export function requestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A POST whose answer is text (a CSV export): the request body keeps searches out of URLs. */
export async function postText(path: string, body: unknown): Promise<string> {
  return (await call('POST', path, body)).text();
}

export async function text(path: string): Promise<string> {
  return (await call('GET', path)).text();
}

/** Checks a key before keeping it. */
export async function tryKey(key: string): Promise<boolean> {
  try {
    await call('GET', '/sources', undefined, key);
    return true;
  } catch (err) {
    if (err instanceof Unauthorized) return false;
    throw err;
  }
}
