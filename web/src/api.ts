/**
 * Calls to fhir-engage's API with the key the user logged in with. The key
 * lives in session storage (gone when the tab closes), never in a URL. A 401
 * logs out: no API data stays on screen without a valid key.
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

export const session = {
  key: (): string | null => sessionStorage.getItem(KEY),
  set: (key: string): void => sessionStorage.setItem(KEY, key),
  clear: (): void => sessionStorage.removeItem(KEY),
};

let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

async function call(method: string, path: string, body?: unknown, candidate?: string): Promise<Response> {
  const key = candidate ?? session.key();
  const res = await fetch(`api${path}`, {
    method,
    headers: { 'x-api-key': key ?? '', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  if (res.status === 401) {
    // A key being tried is only refused; the session's key being refused ends the session.
    if (candidate === undefined) {
      session.clear();
      onUnauthorized();
    }
    throw new Unauthorized('the API key was refused');
  }
  if (!res.ok) {
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
