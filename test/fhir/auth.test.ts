/**
 * Client authentication on its own: what each mode sends to the token endpoint (nock records it), when a
 * token is reused and when it is fetched again, and what a refusal says.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import nock from 'nock';
import { createAuthProvider, TOKEN_REFRESH_MARGIN_MS } from '../../src/fhir/auth';
import { HttpTransport } from '../../src/fhir/transport';
import { FakeClock } from '../helpers/fake-clock';
import { guardNock } from '../helpers/nock-guard';

guardNock();

const BASE = 'https://emr.test/fhir/r4';
const TOKEN_URL = 'https://auth.emr.test/oauth2/token';

function transport(clock: FakeClock): HttpTransport {
  return new HttpTransport({ timeoutMs: 5000, maxRetries: 0, requestsPerSecond: 1000, concurrency: 4, clock });
}

describe('client_credentials', () => {
  const config = {
    type: 'client_credentials' as const,
    tokenUrl: TOKEN_URL,
    clientId: 'app one',
    clientSecret: 's3cr:et',
    scope: 'system/Patient.read',
  };

  test('sends the secret as HTTP Basic (each part form-encoded) and the scope; reuses the token until its refresh time', async () => {
    const clock = new FakeClock();
    const bodies: string[] = [];
    let basic = '';
    nock('https://auth.emr.test')
      .post('/oauth2/token', (b: unknown) => {
        bodies.push(new URLSearchParams(b as Record<string, string>).toString());
        return true;
      })
      .times(2)
      .reply(function () {
        basic = String(this.req.headers.authorization);
        return [200, { access_token: `tok-${bodies.length}`, expires_in: 600, scope: 'system/Patient.read' }];
      });
    const auth = createAuthProvider(config, BASE, transport(clock), clock);
    expect(await auth.authorization()).toBe('Bearer tok-1');
    expect(basic).toBe(`Basic ${Buffer.from('app%20one:s3cr%3Aet').toString('base64')}`);
    expect(bodies[0]).toBe('grant_type=client_credentials&scope=system%2FPatient.read');
    expect(auth.grant?.()).toEqual({ scope: 'system/Patient.read', expiresAt: clock.now() + 600_000 });
    // Still valid a second before the refresh margin: no new request.
    clock.advance(600_000 - TOKEN_REFRESH_MARGIN_MS - 1000);
    expect(await auth.authorization()).toBe('Bearer tok-1');
    clock.advance(2000);
    expect(await auth.authorization()).toBe('Bearer tok-2');
  });

  test('concurrent requests share one token request, and a 401 (invalidate) makes the next one fetch again', async () => {
    const clock = new FakeClock();
    let calls = 0;
    nock('https://auth.emr.test')
      .post('/oauth2/token')
      .times(2)
      .reply(() => [200, { access_token: `tok-${++calls}`, expires_in: 3600 }]);
    const auth = createAuthProvider(config, BASE, transport(clock), clock);
    const all = await Promise.all([auth.authorization(), auth.authorization(), auth.authorization()]);
    expect(all).toEqual(['Bearer tok-1', 'Bearer tok-1', 'Bearer tok-1']);
    expect(calls).toBe(1);
    expect(auth.invalidate()).toBe(true);
    expect(await auth.authorization()).toBe('Bearer tok-2');
  });

  test('a refusal names the OAuth error and the endpoint, never the secret', async () => {
    const clock = new FakeClock();
    nock('https://auth.emr.test').post('/oauth2/token').reply(401, { error: 'invalid_client' });
    const auth = createAuthProvider(config, BASE, transport(clock), clock);
    const err = (await auth.authorization().catch((e: unknown) => e)) as Error & { status?: number };
    expect(err.message).toContain(`token request to ${TOKEN_URL} failed: HTTP 401 (invalid_client)`);
    expect(err.status).toBe(401);
    expect(err.message).not.toContain('s3cr');
  });
});

describe('SMART Backend Services', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-auth-'));
  const keyFile = path.join(dir, 'key.pem');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));

  test('discovers the token endpoint, then sends a signed assertion (iss = sub = client, aud = endpoint, exp ≤ 5 min, kid)', async () => {
    const clock = new FakeClock();
    let form: Record<string, string> = {};
    nock(BASE).get('/.well-known/smart-configuration').reply(200, { token_endpoint: TOKEN_URL });
    nock('https://auth.emr.test')
      .post('/oauth2/token', (b: Record<string, string>) => {
        form = b;
        return true;
      })
      .reply(200, { access_token: 'smart-tok', expires_in: 300 });
    const auth = createAuthProvider(
      { type: 'smart-backend', clientId: 'cid', keyFile, algorithm: 'RS384', keyId: 'k1', scope: 'system/*.rs' },
      BASE,
      transport(clock),
      clock,
    );
    expect(await auth.authorization()).toBe('Bearer smart-tok');
    expect(form.grant_type).toBe('client_credentials');
    expect(form.scope).toBe('system/*.rs');
    expect(form.client_assertion_type).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const claims = decodeJwt(form.client_assertion as string);
    expect(decodeProtectedHeader(form.client_assertion as string)).toEqual({ alg: 'RS384', typ: 'JWT', kid: 'k1' });
    expect(claims).toMatchObject({ iss: 'cid', sub: 'cid', aud: TOKEN_URL });
    expect(typeof claims.jti).toBe('string');
    expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(300);
    expect((claims.iat as number) * 1000).toBe(Math.floor(clock.now() / 1000) * 1000);
  });

  test('a key file that is not a private key is a config error naming auth.keyFile', async () => {
    const clock = new FakeClock();
    const bad = path.join(dir, 'bad.pem');
    writeFileSync(bad, 'not a key');
    const auth = createAuthProvider(
      { type: 'smart-backend', clientId: 'cid', keyFile: bad, algorithm: 'RS384', tokenUrl: TOKEN_URL, scope: 's' },
      BASE,
      transport(clock),
      clock,
    );
    await expect(auth.authorization()).rejects.toThrow(`${bad} is not a RS384 private key (PKCS#8 PEM or JWK)`);
  });
});

test('bearer and basic send their header as given and cannot be refreshed', async () => {
  const clock = new FakeClock();
  const bearer = createAuthProvider({ type: 'bearer', token: 't0k' }, BASE, transport(clock), clock);
  expect(await bearer.authorization()).toBe('Bearer t0k');
  expect(bearer.invalidate()).toBe(false);
  const basic = createAuthProvider({ type: 'basic', username: 'u', password: 'p:w' }, BASE, transport(clock), clock);
  expect(await basic.authorization()).toBe(`Basic ${Buffer.from('u:p:w').toString('base64')}`);
  expect(await createAuthProvider({ type: 'none' }, BASE, transport(clock), clock).authorization()).toBeUndefined();
});
