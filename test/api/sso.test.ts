/**
 * Signing in with an identity provider (docs/operations.md, "People and access"), against a real
 * OpenID provider (oidc-provider) started here in its own process: the authorization code flow with
 * PKCE; a care manager of clinic A sees A's patients and none of B's; an integration person gets runs and
 * patient routes 403; a replayed state and a missing PKCE verifier fail; a change without the CSRF token
 * fails; logout ends the session; the access log and a claimed Task's Provenance name the person.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Provenance, Task } from '@medplum/fhirtypes';
import { createApiApp } from '../../src/api/app';
import { Metrics } from '../../src/api/metrics';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/types';
import { listen } from '../../src/listen';
import type { SandboxServer } from '../../src/sandbox/server';
import type { Store } from '../../src/store/store';
import { syncSource } from '../../src/sync/run';
import { SyncRunner } from '../../src/sync/runner';
import { seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import { testSource } from '../helpers/source';
import { memoryStore } from '../helpers/store';
import { launchChromium } from '../helpers/browser';
import { outOfScopeTries } from '../helpers/scope-tries';
import { ROOT } from '../helpers/cli';

const CLIENT = { id: 'fhir-engage-test', secret: 'a-client-secret-for-the-test-idp' };
let idp: ChildProcess;
let issuer: string;
let emrA: SandboxServer;
let emrB: SandboxServer;
let store: Store;
let api: Server;
let base: string;
let config: AppConfig;
let runner: SyncRunner;

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });

/** The form's inputs: name and value, in any attribute order. */
function inputsOf(html: string): [string, string][] {
  return [...html.matchAll(/<input\b[^>]*>/g)].flatMap((m) => {
    const name = /\bname="([^"]+)"/.exec(m[0])?.[1];
    return name ? [[name, /\bvalue="([^"]*)"/.exec(m[0])?.[1] ?? ''] as [string, string]] : [];
  });
}

/** A browser's cookie jar, per host. */
class Browser {
  private jar = new Map<string, Map<string, string>>();
  private cookieFor(url: string): string {
    return [...(this.jar.get(new URL(url).host) ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  private keep(url: string, res: Response): void {
    const host = new URL(url).host;
    const jar = this.jar.get(host) ?? new Map<string, string>();
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const at = (pair as string).indexOf('=');
      const [k, v] = [(pair as string).slice(0, at), (pair as string).slice(at + 1)];
      if (v === '' || /Max-Age=0/i.test(c)) jar.delete(k);
      else jar.set(k, v);
    }
    this.jar.set(host, jar);
  }
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: this.cookieFor(url) },
    });
    this.keep(url, res);
    return res;
  }
  /** Follows redirects as a browser would (stopping before a URL that starts with `stopAt`); the last answer and the URLs seen. */
  async go(
    url: string,
    init: RequestInit = {},
    stopAt?: string,
  ): Promise<{ res: Response; seen: string[]; stopped?: string }> {
    const seen = [url];
    let res = await this.fetch(url, init);
    while (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
      const next = new URL(res.headers.get('location') as string, seen[seen.length - 1]).toString();
      if (stopAt && next.startsWith(stopAt)) return { res, seen, stopped: next };
      seen.push(next);
      res = await this.fetch(next);
    }
    return { res, seen };
  }
  /** Signs in as `account` through the provider's login and consent forms; where it landed (or stopped). */
  async signIn(account: string, stopAt?: string): Promise<{ res: Response; at: string; stopped?: string }> {
    let { res, seen, stopped } = await this.go(`${base}/auth/login`, {}, stopAt);
    for (let step = 0; step < 4 && !stopped && !seen[seen.length - 1]!.startsWith(base); step++) {
      const html = await res.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1] as string;
      const fields = new URLSearchParams();
      for (const [name, value] of inputsOf(html)) fields.set(name, value);
      if (fields.has('login')) fields.set('login', account);
      if (fields.has('password')) fields.set('password', 'any');
      ({ res, seen, stopped } = await this.go(
        new URL(action, seen[seen.length - 1]).toString(),
        { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields.toString() },
        stopAt,
      ));
    }
    return { res, at: seen[seen.length - 1] as string, ...(stopped ? { stopped } : {}) };
  }
}

beforeAll(async () => {
  const port = await freePort();
  const appPort = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  base = `http://127.0.0.1:${appPort}`;
  emrA = await seededSandbox({ patients: 6, seed: 31, fixtures: false });
  emrB = await seededSandbox({ patients: 6, seed: 32, fixtures: false });
  store = await memoryStore();
  config = {
    ...loadConfig({ env: {}, cwd: os.tmpdir() }),
    sources: [testSource({ id: 'A', baseUrl: emrA.baseUrl }), testSource({ id: 'B', baseUrl: emrB.baseUrl })],
    sso: {
      issuer,
      clientId: CLIENT.id,
      clientSecret: CLIENT.secret,
      publicUrl: base,
      scopes: ['openid', 'profile', 'email', 'groups'],
      rolesClaim: 'groups',
      roles: {
        'fhir-engage-care-a': { roles: ['care-manager'], sources: ['A'] },
        'fhir-engage-integration': { roles: ['integration'] },
      },
      users: {},
      session: { idleMinutes: 30, absoluteHours: 12 },
    },
  };
  for (const s of config.sources) await syncSource(store, config, s, { asOf: new Date(TEST_ANCHOR) });
  runner = new SyncRunner(store, config);
  const app = createApiApp({ store, config, runner, metrics: new Metrics(false), apiKeys: [] });
  api = (await listen(app, appPort, '127.0.0.1')).server;
  idp = spawn(
    process.execPath,
    [
      path.join(__dirname, '..', 'helpers', 'oidc-idp.mjs'),
      String(port),
      CLIENT.id,
      CLIENT.secret,
      `${base}/auth/callback`,
      `${base}/`,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  await new Promise<void>((resolve, reject) => {
    idp.stdout?.on('data', (b: Buffer) => b.toString().includes('listening') && resolve());
    idp.on('exit', (code) => reject(new Error(`the test identity provider exited (${code})`)));
  });
}, 120_000);

afterAll(async () => {
  idp?.kill();
  await runner.stop();
  await new Promise<void>((resolve) => api.close(() => resolve()));
  await emrA.close();
  await emrB.close();
  await store.close();
});

const me = async (b: Browser) =>
  (await b.fetch(`${base}/api/me`)).json() as Promise<{
    name: string;
    roles: string[];
    sources: string[] | null;
    csrfToken?: string;
  }>;

test('a care manager of A signs in: A’s patients and worklist, none of B’s; the access log names them', async () => {
  const b = new Browser();
  const landed = await b.signIn('carla');
  expect(landed.at).toBe(`${base}/`); // back at the dashboard
  const who = await me(b);
  expect(who).toMatchObject({ name: 'Carla Care', roles: ['care-manager'], sources: ['A'] });
  expect(who.csrfToken).toBeDefined();
  const patients = (await (await b.fetch(`${base}/api/patients?pageSize=500`)).json()) as {
    patients: { sourceId: string; patientId: string }[];
  };
  expect(new Set(patients.patients.map((p) => p.sourceId))).toEqual(new Set(['A']));
  const one = patients.patients[0]!.patientId;
  const { csrfToken } = who;
  for (const [method, path, body] of outOfScopeTries(one)) {
    const res = await b.fetch(`${base}${path}`, {
      method,
      ...(body
        ? {
            body: JSON.stringify(body),
            headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken as string },
          }
        : {}),
    });
    expect({ path, status: res.status }).toEqual({ path, status: 404 });
  }
  expect((await b.fetch(`${base}/api/runs`)).status).toBe(403);
  const log = await store.listAccess({ patientId: one });
  expect(log[0]).toMatchObject({ actorKind: 'person', actorName: 'Carla Care', role: 'care-manager', keyId: 'carla' });
});

test('a claim in the dashboard names the person in the EMR’s Provenance; a change without the CSRF token fails', async () => {
  const b = new Browser();
  await b.signIn('carla');
  const { csrfToken } = await me(b);
  const task = (emrA.repo.all('Task') as Task[]).find((t) => t.status === 'requested' && t.identifier?.length);
  expect(task).toBeDefined();
  const url = `${base}/api/sources/A/tasks/${task!.id}/actions`;
  const body = JSON.stringify({ action: 'claim', requestId: 'sso-claim-000001' });
  const json = { 'content-type': 'application/json' };
  expect((await b.fetch(url, { method: 'POST', headers: json, body })).status).toBe(403);
  expect((await b.fetch(url, { method: 'POST', headers: { ...json, 'x-csrf-token': 'wrong' }, body })).status).toBe(
    403,
  );
  const ok = await b.fetch(url, { method: 'POST', headers: { ...json, 'x-csrf-token': csrfToken as string }, body });
  expect(ok.status).toBe(200);
  const prov = (emrA.repo.all('Provenance') as Provenance[]).find(
    (p) =>
      p.target.some((t) => t.reference === `Task/${task!.id}`) && p.agent.some((a) => a.who?.display === 'Carla Care'),
  );
  expect(prov?.agent[0]?.who).toMatchObject({ display: 'Carla Care', identifier: { value: 'carla' } });
  const change = (await store.listAccess({ keyId: 'carla' })).find((r) => r.change?.startsWith('claim of Task'));
  expect(change).toBeDefined();
});

test('integration: runs and dead letters, patient routes 403', async () => {
  const b = new Browser();
  await b.signIn('ivan');
  expect((await b.fetch(`${base}/api/runs`)).status).toBe(200);
  expect((await b.fetch(`${base}/api/dead-letters`)).status).toBe(200);
  for (const path of ['/api/patients', '/api/worklist', '/api/safety'])
    expect({ path, status: (await b.fetch(`${base}${path}`)).status }).toEqual({ path, status: 403 });
});

test('an account with no role gets no session', async () => {
  const b = new Browser();
  const { res } = await b.signIn('nobody');
  expect(res.status).toBe(403);
  expect(await res.text()).toContain('no role in fhir-engage');
  expect((await b.fetch(`${base}/api/me`)).status).toBe(401);
});

test('a replayed state fails, and so does a sign-in whose PKCE verifier is gone', async () => {
  const b = new Browser();
  // Stop at the callback to replay it.
  const callback = (await b.signIn('carla', `${base}/auth/callback`)).stopped;
  expect(callback).toBeDefined();
  const first = await b.fetch(callback as string);
  expect(first.status).toBe(302);
  const replay = await new Browser().fetch(callback as string);
  expect(replay.status).toBe(400);
  expect(await replay.text()).toContain('unknown, used already or too old');
  // A sign-in whose stored verifier is gone (another instance's, expired): the state is unknown here.
  const started = await new Browser().fetch(`${base}/auth/login`);
  const state = new URL(started.headers.get('location') as string).searchParams.get('state') as string;
  const stateHash = (await import('node:crypto')).createHash('sha256').update(state).digest('hex');
  await store.takeLogin(stateHash, new Date(), 60_000);
  const orphan = await new Browser().fetch(`${base}/auth/callback?state=${state}&code=whatever`);
  expect(orphan.status).toBe(400);
});

test('logout ends the session here and sends the browser to the provider’s sign-out', async () => {
  const b = new Browser();
  await b.signIn('carla');
  const { csrfToken } = await me(b);
  const out = await b.fetch(`${base}/api/logout`, { method: 'POST', headers: { 'x-csrf-token': csrfToken as string } });
  expect(out.status).toBe(200);
  const body = (await out.json()) as { next: string };
  expect(body.next.startsWith(`${issuer}/session/end`)).toBe(true);
  expect((await b.fetch(`${base}/api/me`)).status).toBe(401);
});

test('in Chromium: the sign-in button, the provider’s form, the worklist of A as Carla, then sign-out', async () => {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build-web.js'), '--if-stale'], { stdio: 'ignore' });
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await page.goto(`${base}/`);
    await page.getByTestId('sso-login').click();
    await page.fill('input[name=login]', 'carla');
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
    // The provider's consent, then back to the dashboard.
    if (await page.locator('button[type=submit]').count()) await page.click('button[type=submit]');
    await page.waitForURL(`${base}/**`);
    await page.goto(`${base}/#/worklist`);
    await page.waitForSelector('[data-testid=worklist], main h1');
    expect(await page.locator('#nav').isHidden()).toBe(false);
    const me = (await page.evaluate("fetch('api/me').then((r) => r.json())")) as { name: string };
    expect(me.name).toBe('Carla Care');
    await page.screenshot({ path: path.join(ROOT, 'test-artifacts', 'sso-worklist.png') });
    await page.click('#logout');
    // Signed out here, and sent to the provider's own sign-out.
    await page.waitForURL((u) => u.toString().startsWith(`${issuer}/session/end`));
    expect((await page.context().request.get(`${base}/api/me`)).status()).toBe(401);
  } finally {
    await browser.close();
  }
});
