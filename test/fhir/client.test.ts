/** The FHIR client against nock-mocked servers: retries, Retry-After, auth modes, token refresh, bad bodies. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nock from 'nock';
import { guardNock } from '../helpers/nock-guard';
import { decodeProtectedHeader, exportPKCS8, generateKeyPair, jwtVerify } from 'jose';
import { FhirClient } from '../../src/fhir/client';
import { HttpError } from '../../src/errors';
import { FakeClock } from '../helpers/fake-clock';

const BASE = 'https://emr.test/fhir/r4';
const patient = { resourceType: 'Patient', id: 'p1' };

function client(
  overrides: Partial<ConstructorParameters<typeof FhirClient>[0]> = {},
  clock = new FakeClock(),
): FhirClient {
  return new FhirClient({
    baseUrl: BASE,
    auth: { type: 'none' },
    maxRetries: 3,
    requestsPerSecond: 1000,
    concurrency: 4,
    clock,
    random: () => 0.5,
    ...overrides,
  });
}

guardNock();

describe('retries', () => {
  test('a GET on a kept-alive connection the server closed as it was reused (ECONNRESET) is sent again at once, even with maxRetries 0; a POST is not', async () => {
    const clock = new FakeClock();
    nock(BASE)
      .get('/Patient/p1')
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .get('/Patient/p1')
      .reply(200, patient);
    await expect(client({ maxRetries: 0 }, clock).getOk('Patient/p1')).resolves.toEqual(patient);
    expect(clock.sleeps).toEqual([]);
    nock(BASE)
      .get('/Patient/p1')
      .times(2)
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await expect(client({ maxRetries: 0 }, clock).getOk('Patient/p1')).rejects.toThrow('network error (ECONNRESET)');
    nock(BASE)
      .post('/Task')
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    await expect(
      client({ maxRetries: 0 }, clock).request('POST', 'Task', { body: { resourceType: 'Task' } }),
    ).rejects.toThrow('network error (ECONNRESET)');
  });

  test('429 with Retry-After is honoured: the client waits exactly that long, then succeeds', async () => {
    const clock = new FakeClock();
    nock(BASE).get('/Patient/p1').reply(429, {}, { 'Retry-After': '7' }).get('/Patient/p1').reply(200, patient);
    const res = await client({}, clock).getOk('Patient/p1');
    expect(res).toEqual(patient);
    expect(clock.sleeps).toEqual([7000]);
  });

  test('Retry-After as an HTTP date is honoured', async () => {
    const clock = new FakeClock(Date.parse('2026-06-01T00:00:00Z'));
    nock(BASE)
      .get('/Patient/p1')
      .reply(429, '', { 'Retry-After': 'Mon, 01 Jun 2026 00:00:12 GMT' })
      .get('/Patient/p1')
      .reply(200, patient);
    await client({}, clock).getOk('Patient/p1');
    expect(clock.sleeps).toEqual([12000]);
  });

  test('503 then success; back-off grows exponentially with jitter', async () => {
    const clock = new FakeClock();
    nock(BASE)
      .get('/Patient/p1')
      .reply(503)
      .get('/Patient/p1')
      .reply(502)
      .get('/Patient/p1')
      .reply(504)
      .get('/Patient/p1')
      .reply(200, patient);
    expect(await client({ random: () => 1 }, clock).getOk('Patient/p1')).toEqual(patient);
    expect(clock.sleeps).toEqual([500, 1000, 2000]);
  });

  test('gives up after maxRetries with an error naming the URL without query values', async () => {
    nock(BASE)
      .get('/Patient')
      .query(true)
      .times(4)
      .reply(503, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'transient' }] });
    const err = (await client({})
      .getOk('Patient?name=Quillfeather&_count=10')
      .catch((e: unknown) => e)) as HttpError;
    expect(err).toBeInstanceOf(HttpError);
    expect(err.status).toBe(503);
    expect(err.message).toBe(`GET ${BASE}/Patient?name=(hidden)&_count=(hidden) failed after 4 attempt(s): HTTP 503`);
    expect(err.message).not.toContain('Quillfeather');
  });

  test('a 500 or 400 is not retried', async () => {
    nock(BASE)
      .get('/Patient/p1')
      .reply(500, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'fatal', code: 'required', location: ['/f:Patient/f:status'] }],
      });
    const err = (await client()
      .getOk('Patient/p1')
      .catch((e: unknown) => e)) as HttpError;
    expect(err.status).toBe(500);
    expect(err.message).toBe(`GET ${BASE}/Patient/p1 answered HTTP 500 (server: required /f:Patient/f:status)`);
    expect(err.remoteOutcome?.issue[0]?.code).toBe('required');
  });

  test('network errors are retried', async () => {
    const clock = new FakeClock();
    nock(BASE)
      .get('/Patient/p1')
      .replyWithError(Object.assign(new Error('connect refused'), { code: 'ECONNREFUSED' }))
      .get('/Patient/p1')
      .reply(200, patient);
    expect(await client({}, clock).getOk('Patient/p1')).toEqual(patient);
    expect(clock.sleeps).toHaveLength(1);
  });

  test('a slow server hits the per-request timeout, which is retried and then reported', async () => {
    nock(BASE).get('/Patient/p1').times(2).delay(300).reply(200, patient);
    const err = (await client({ timeoutMs: 50, maxRetries: 1 })
      .getOk('Patient/p1')
      .catch((e: unknown) => e)) as HttpError;
    expect(err.message).toContain('no response within 50 ms');
  });

  test('a truncated JSON body is retried, and when it persists the error names the URL, not a crash', async () => {
    const truncated =
      '{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient","name":[{"family":"Quill';
    nock(BASE)
      .get('/Patient')
      .query(true)
      .reply(200, truncated)
      .get('/Patient')
      .query(true)
      .reply(200, { resourceType: 'Bundle', type: 'searchset' });
    expect(await client().getBundle('Patient?family=Quill')).toMatchObject({ resourceType: 'Bundle' });

    nock(BASE).get('/Patient').query(true).times(4).reply(200, truncated);
    const err = (await client()
      .getBundle('Patient?family=Quill')
      .catch((e: unknown) => e)) as HttpError;
    expect(err).toBeInstanceOf(HttpError);
    expect(err.message).toContain(
      `GET ${BASE}/Patient?family=(hidden) failed after 4 attempt(s): the response body is not valid JSON`,
    );
    expect(err.message).not.toContain('Quill');
  });

  test('a 200 that is not a Bundle where one is expected is a clear error', async () => {
    nock(BASE).get('/Patient').reply(200, '<html>login</html>', { 'content-type': 'text/html' });
    nock(BASE).get('/Patient').times(3).reply(200, '<html>login</html>', { 'content-type': 'text/html' });
    await expect(client().getBundle('Patient')).rejects.toThrow('the response body is not valid JSON');
    nock(BASE).get('/Appointment').reply(200, patient);
    await expect(client().getBundle('Appointment')).rejects.toThrow(`GET ${BASE}/Appointment did not return a Bundle`);
  });
});

describe('auth', () => {
  test('bearer and basic send the configured header', async () => {
    nock(BASE, { reqheaders: { authorization: 'Bearer tok' } })
      .get('/Patient/p1')
      .reply(200, patient);
    await client({ auth: { type: 'bearer', token: 'tok' } }).getOk('Patient/p1');
    nock(BASE, { reqheaders: { authorization: `Basic ${Buffer.from('u:p').toString('base64')}` } })
      .get('/Patient/p1')
      .reply(200, patient);
    await client({ auth: { type: 'basic', username: 'u', password: 'p' } }).getOk('Patient/p1');
  });

  test('client_credentials: one token for many requests, refreshed before it expires', async () => {
    const clock = new FakeClock();
    const tokenBodies: string[] = [];
    nock('https://auth.test')
      .post('/token', (body: Record<string, string>) => {
        tokenBodies.push(new URLSearchParams(body).toString());
        return body.grant_type === 'client_credentials';
      })
      .basicAuth({ user: 'cid', pass: 'secret' })
      .reply(200, { access_token: 'T1', token_type: 'bearer', expires_in: 600 })
      .post('/token')
      .reply(200, { access_token: 'T2', token_type: 'bearer', expires_in: 600 });
    nock(BASE, { reqheaders: { authorization: 'Bearer T1' } })
      .get('/Patient/p1')
      .times(2)
      .reply(200, patient);
    nock(BASE, { reqheaders: { authorization: 'Bearer T2' } })
      .get('/Patient/p1')
      .reply(200, patient);
    const c = client(
      {
        auth: {
          type: 'client_credentials',
          tokenUrl: 'https://auth.test/token',
          clientId: 'cid',
          clientSecret: 'secret',
          scope: 'system/*.read',
        },
      },
      clock,
    );
    await c.getOk('Patient/p1');
    await c.getOk('Patient/p1');
    clock.advance(541_000); // past expiry minus the 60 s margin
    await c.getOk('Patient/p1');
    expect(tokenBodies[0]).toBe('grant_type=client_credentials&scope=system%2F*.read');
  });

  test('a 401 drops the token and retries once with a fresh one', async () => {
    nock('https://auth.test')
      .post('/token')
      .reply(200, { access_token: 'OLD', expires_in: 3600 })
      .post('/token')
      .reply(200, { access_token: 'NEW', expires_in: 3600 });
    nock(BASE, { reqheaders: { authorization: 'Bearer OLD' } })
      .get('/Patient/p1')
      .reply(401);
    nock(BASE, { reqheaders: { authorization: 'Bearer NEW' } })
      .get('/Patient/p1')
      .reply(200, patient);
    const c = client({
      auth: { type: 'client_credentials', tokenUrl: 'https://auth.test/token', clientId: 'c', clientSecret: 's' },
    });
    expect(await c.getOk('Patient/p1')).toEqual(patient);
  });

  test('a second 401 after refreshing fails with a security error', async () => {
    nock('https://auth.test').post('/token').times(2).reply(200, { access_token: 'X', expires_in: 3600 });
    nock(BASE).get('/Patient/p1').times(2).reply(401);
    const c = client({
      auth: { type: 'client_credentials', tokenUrl: 'https://auth.test/token', clientId: 'c', clientSecret: 's' },
    });
    await expect(c.getOk('Patient/p1')).rejects.toThrow(`GET ${BASE}/Patient/p1 answered HTTP 401`);
  });

  test('a refused token request names the endpoint and the OAuth error, never the secret', async () => {
    nock('https://auth.test').post('/token').reply(401, { error: 'invalid_client', error_description: 'bad secret' });
    const c = client({
      auth: { type: 'client_credentials', tokenUrl: 'https://auth.test/token', clientId: 'c', clientSecret: 'hunter2' },
    });
    const err = (await c.getOk('Patient/p1').catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('token request to https://auth.test/token failed: HTTP 401 (invalid_client)');
    expect(err.message).not.toContain('hunter2');
  });

  test.each(['RS384', 'ES384'] as const)(
    'SMART Backend Services with %s: a signed JWT assertion with the right claims',
    async (alg) => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-key-'));
      const keyFile = path.join(dir, 'key.pem');
      writeFileSync(keyFile, await exportPKCS8(privateKey));
      const clock = new FakeClock(Date.now());
      let form: URLSearchParams | undefined;
      nock(BASE)
        .get('/.well-known/smart-configuration')
        .reply(200, { token_endpoint: 'https://auth.test/smart/token' });
      nock('https://auth.test')
        .post('/smart/token', (body: Record<string, string>) => {
          form = new URLSearchParams(body);
          return true;
        })
        .reply(200, { access_token: 'SMART', expires_in: 300 });
      nock(BASE, { reqheaders: { authorization: 'Bearer SMART' } })
        .get('/Patient/p1')
        .reply(200, patient);

      // The discovered token endpoint is on another host (as Oracle Health's is): listed in allowedOrigins.
      const c = client(
        {
          auth: {
            type: 'smart-backend',
            clientId: 'engage-app',
            keyFile,
            keyId: 'kid-1',
            algorithm: alg,
            scope: 'system/*.read',
          },
          allowedOrigins: ['https://auth.test'],
        },
        clock,
      );
      await c.getOk('Patient/p1');

      expect(form?.get('grant_type')).toBe('client_credentials');
      expect(form?.get('scope')).toBe('system/*.read');
      expect(form?.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      const jwt = form?.get('client_assertion') as string;
      expect(decodeProtectedHeader(jwt)).toEqual({ alg, typ: 'JWT', kid: 'kid-1' });
      const { payload } = await jwtVerify(jwt, publicKey, {
        issuer: 'engage-app',
        subject: 'engage-app',
        audience: 'https://auth.test/smart/token',
        algorithms: [alg],
      });
      expect(typeof payload.jti).toBe('string');
      expect((payload.exp as number) - (payload.iat as number)).toBe(300);
    },
  );

  test('SMART: an unreadable key file is a configuration error naming the file', async () => {
    const c = client({
      auth: {
        type: 'smart-backend',
        clientId: 'x',
        keyFile: '/nonexistent/key.pem',
        algorithm: 'RS384',
        scope: 's',
        tokenUrl: 'https://auth.test/t',
      },
    });
    await expect(c.getOk('Patient/p1')).rejects.toThrow('cannot read the SMART private key file /nonexistent/key.pem');
  });
});

describe('pacing', () => {
  test('requests per second are limited', async () => {
    const clock = new FakeClock();
    nock(BASE).get('/Patient/p1').times(5).reply(200, patient);
    const c = client({ requestsPerSecond: 2, concurrency: 1 }, clock);
    for (let i = 0; i < 5; i++) await c.getOk('Patient/p1');
    // Burst of 2, then one request every 500 ms.
    expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(1500);
  });

  test('no more than `concurrency` requests are in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    nock(BASE)
      .get('/Patient/p1')
      .times(8)
      .delay(20)
      .reply(() => {
        return [200, patient];
      });
    const c = new FhirClient({ baseUrl: BASE, auth: { type: 'none' }, requestsPerSecond: 1000, concurrency: 2 });
    const original = globalThis.fetch;
    globalThis.fetch = (async (...args: Parameters<typeof fetch>) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        const res = await original(...args);
        await new Promise((r) => setTimeout(r, 5));
        return res;
      } finally {
        inFlight--;
      }
    }) as typeof fetch;
    try {
      await Promise.all(Array.from({ length: 8 }, () => c.getOk('Patient/p1')));
    } finally {
      globalThis.fetch = original;
    }
    expect(peak).toBe(2);
  });
});
