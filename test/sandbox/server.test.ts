/** The sandbox EMR over real HTTP: FHIR interactions, auth modes and every quirk. */
import type { Appointment, Bundle, CapabilityStatement, OperationOutcome, Patient, Task } from '@medplum/fhirtypes';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import { getJson, nextLink, pageAll, seededSandbox, TEST_ANCHOR } from '../helpers/sandbox';
import type { SandboxServer } from '../../src/sandbox/server';
import { SandboxRepository } from '../../src/sandbox/repository';
import { seedRepository, INVALID_VARIANTS } from '../../src/sandbox/seed';
import { startSandbox } from '../../src/sandbox/server';
import { parseQuirksArg } from '../../src/sandbox/quirks';

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/fhir+json', ...headers },
  body: JSON.stringify(body),
});

describe('sandbox EMR: FHIR interactions over HTTP', () => {
  let emr: SandboxServer;
  beforeAll(async () => {
    emr = await seededSandbox({ patients: 20, fixtures: true });
  });
  afterAll(() => emr.close());

  test('GET /metadata is a CapabilityStatement listing the served types and _lastUpdated', async () => {
    const { status, body } = await getJson<CapabilityStatement>(`${emr.baseUrl}/metadata`);
    expect(status).toBe(200);
    expect(body.fhirVersion).toBe('4.0.1');
    const appt = body.rest?.[0]?.resource?.find((r) => r.type === 'Appointment');
    expect(appt?.interaction?.map((i) => i.code)).toContain('search-type');
    expect(appt?.searchParam?.map((p) => p.name)).toEqual(expect.arrayContaining(['_lastUpdated', 'patient']));
  });

  test('read returns the resource with its ETag; an unknown id is 404 with an OperationOutcome', async () => {
    const { status, body, headers } = await getJson<Patient>(`${emr.baseUrl}/Patient/gen-pat-000001`);
    expect(status).toBe(200);
    expect(body.id).toBe('gen-pat-000001');
    expect(headers.get('etag')).toBe('W/"1"');
    const missing = await getJson<OperationOutcome>(`${emr.baseUrl}/Patient/nope`);
    expect(missing.status).toBe(404);
    expect(missing.body.resourceType).toBe('OperationOutcome');
  });

  test('search pages through ≥ 3 pages with next links, every resource exactly once', async () => {
    const total = emr.repo.count('Appointment');
    const { resources, pages } = await pageAll(`${emr.baseUrl}/Appointment?_count=40`);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(resources).toHaveLength(total);
    expect(new Set(resources.map((r) => r.id)).size).toBe(total);
    const first = await getJson<Bundle>(`${emr.baseUrl}/Appointment?_count=40`);
    expect(first.body.entry).toHaveLength(40);
    expect(first.body.entry?.[0]?.search?.mode).toBe('match');
    expect(first.body.link?.[0]).toEqual({ relation: 'self', url: `${emr.baseUrl}/Appointment?_count=40` });
  });

  test('_lastUpdated gt, ge and lt select by meta.lastUpdated', async () => {
    const all = emr.repo.all('Patient').filter((p) => p.id?.startsWith('gen-'));
    const pivot = all[10]?.meta?.lastUpdated as string;
    const after = await pageAll(`${emr.baseUrl}/Patient?_lastUpdated=gt${encodeURIComponent(pivot)}&_count=5`);
    const expected = emr.repo
      .all('Patient')
      .filter((p) => Date.parse(p.meta?.lastUpdated as string) > Date.parse(pivot));
    expect(after.resources.map((r) => r.id)).toEqual(expected.map((r) => r.id));
    const ge = await pageAll(`${emr.baseUrl}/Patient?_lastUpdated=ge${encodeURIComponent(pivot)}`);
    expect(ge.resources.length).toBe(after.resources.length + 1);
    const before = await pageAll(`${emr.baseUrl}/Patient?_lastUpdated=lt${encodeURIComponent(pivot)}`);
    expect(before.resources.length + ge.resources.length).toBe(emr.repo.count('Patient'));
  });

  test('patient= and subject= searches, with Patient/id or a bare id', async () => {
    const expected = emr.repo
      .all('Appointment')
      .filter((a) => (a as Appointment).participant.some((p) => p.actor?.reference === 'Patient/gen-pat-000003'));
    const byRef = await pageAll(`${emr.baseUrl}/Appointment?patient=Patient/gen-pat-000003`);
    const bare = await pageAll(`${emr.baseUrl}/Appointment?patient=gen-pat-000003`);
    expect(byRef.resources.map((r) => r.id).sort()).toEqual(expected.map((r) => r.id).sort());
    expect(bare.resources.map((r) => r.id).sort()).toEqual(expected.map((r) => r.id).sort());
    const someQr = emr.repo.all('QuestionnaireResponse').find((r) => r.id?.startsWith('gen-')) as {
      subject: { reference: string };
    };
    const who = someQr.subject.reference;
    const qrs = await pageAll(`${emr.baseUrl}/QuestionnaireResponse?subject=${who}&status=completed`);
    const expectedQrs = emr.repo
      .all('QuestionnaireResponse')
      .filter(
        (r) =>
          (r as { subject?: { reference?: string }; status?: string }).subject?.reference === who &&
          (r as { status?: string }).status === 'completed',
      );
    expect(qrs.resources.length).toBeGreaterThan(0);
    expect(qrs.resources.map((r) => r.id).sort()).toEqual(expectedQrs.map((r) => r.id).sort());
  });

  test('_summary=count answers the number of matches with no entries; _total=accurate adds total to a page', async () => {
    const expected = emr.repo.count('Appointment');
    const counted = await getJson<Bundle>(`${emr.baseUrl}/Appointment?_summary=count`);
    expect(counted.status).toBe(200);
    expect(counted.body.total).toBe(expected);
    expect(counted.body.entry).toBeUndefined();
    const page = await getJson<Bundle>(`${emr.baseUrl}/Appointment?_count=5&_total=accurate`);
    expect(page.body.total).toBe(expected);
    expect(page.body.entry).toHaveLength(5);
    const one = await getJson<Bundle>(`${emr.baseUrl}/Appointment?patient=Patient/gen-pat-000003&_summary=count`);
    const byPatient = emr.repo
      .all('Appointment')
      .filter((a) => (a as Appointment).participant.some((p) => p.actor?.reference === 'Patient/gen-pat-000003'));
    expect(one.body.total).toBe(byPatient.length);
  });

  test('identifier=system| (system only) matches every resource with an identifier in that system', async () => {
    const system = 'urn:oid:2.16.840.1.113883.19.5.99999.1';
    const expected = emr.repo
      .all('Patient')
      .filter((p) => (p as Patient).identifier?.some((i) => i.system === system && i.value));
    expect(expected.length).toBeGreaterThan(1);
    const found = await pageAll(`${emr.baseUrl}/Patient?identifier=${encodeURIComponent(`${system}|`)}`);
    expect(found.resources.map((r) => r.id).sort()).toEqual(expected.map((r) => r.id).sort());
  });

  test('identifier=system|value finds a patient', async () => {
    const { body } = await getJson<Bundle>(
      `${emr.baseUrl}/Patient?identifier=${encodeURIComponent('urn:oid:2.16.840.1.113883.19.5.99999.1|MRN00000007')}`,
    );
    expect(body.entry?.map((e) => e.resource?.id)).toEqual(['gen-pat-000007']);
  });

  test('create, then update with If-Match: a stale version is refused with 412', async () => {
    const task: Task = {
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      for: { reference: 'Patient/gen-pat-000001' },
    };
    const created = await getJson<Task>(`${emr.baseUrl}/Task`, json(task));
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toContain(`/Task/${created.body.id}/_history/`);
    const url = `${emr.baseUrl}/Task/${created.body.id}`;
    const put = (body: Task, ifMatch: string): Promise<{ status: number; body: Task }> =>
      getJson<Task>(url, {
        method: 'PUT',
        headers: { 'content-type': 'application/fhir+json', 'if-match': ifMatch },
        body: JSON.stringify(body),
      });
    const updated = await put({ ...created.body, status: 'in-progress' }, `W/"${created.body.meta?.versionId}"`);
    expect(updated.status).toBe(200);
    expect(updated.body.status).toBe('in-progress');
    const stale = await put({ ...created.body, status: 'cancelled' }, `W/"${created.body.meta?.versionId}"`);
    expect(stale.status).toBe(412);
  });

  test('conditional create (If-None-Exist) does not duplicate', async () => {
    const task: Task = {
      resourceType: 'Task',
      status: 'requested',
      intent: 'order',
      identifier: [{ system: 'urn:test', value: 'once' }],
    };
    const first = await getJson<Task>(
      `${emr.baseUrl}/Task`,
      json(task, { 'if-none-exist': 'identifier=urn:test|once' }),
    );
    const second = await getJson<Task>(
      `${emr.baseUrl}/Task`,
      json(task, { 'if-none-exist': 'identifier=urn:test|once' }),
    );
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    const found = await getJson<Bundle>(`${emr.baseUrl}/Task?identifier=${encodeURIComponent('urn:test|once')}`);
    expect(found.body.entry).toHaveLength(1);
  });

  test('a transaction Bundle with urn:uuid references and ifNoneExist', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:6a0a3c2e-5a39-4c8b-9a31-2f0b7d2b1a01',
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'score' },
            identifier: [{ system: 'urn:test', value: 'obs-1' }],
          },
          request: { method: 'POST', url: 'Observation', ifNoneExist: 'identifier=urn:test|obs-1' },
        },
        {
          resource: {
            resourceType: 'Provenance',
            recorded: '2026-01-01T00:00:00Z',
            target: [{ reference: 'urn:uuid:6a0a3c2e-5a39-4c8b-9a31-2f0b7d2b1a01' }],
            agent: [{ who: { display: 'fhir-engage' } }],
          },
          request: { method: 'POST', url: 'Provenance' },
        },
      ],
    };
    const res = await getJson<Bundle>(`${emr.baseUrl}/`, json(bundle));
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('transaction-response');
    expect(res.body.entry?.map((e) => e.response?.status)).toEqual(['201', '201']);
    const obsId = res.body.entry?.[0]?.resource?.id;
    const prov = res.body.entry?.[1]?.resource as { target: { reference: string }[] };
    expect(prov.target[0]?.reference).toBe(`Observation/${obsId}`);
    const again = await getJson<Bundle>(`${emr.baseUrl}/`, json({ ...bundle, entry: [bundle.entry![0]] }));
    expect(again.body.entry?.[0]?.response?.status).toBe('200');
  });

  test('malformed request JSON is a 400 OperationOutcome, not an HTML page', async () => {
    const res = await fetch(`${emr.baseUrl}/Task`, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: '{"resourceType": "Task",',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as OperationOutcome).issue[0]?.code).toBe('structure');
  });

  test('serves the fixtures with urn:uuid references rewritten', async () => {
    const { body } = await getJson<Bundle>(
      `${emr.baseUrl}/CarePlan?subject=Patient/d9427379-943a-42c1-b3d0-6b5056a12696`,
    );
    expect(body.entry?.length).toBeGreaterThan(0);
  });
});

describe('sandbox EMR: auth modes', () => {
  test('bearer: no token or a wrong token is 401, the right one passes', async () => {
    const emr = await seededSandbox({}, { auth: { mode: 'bearer', token: 'sesame' } });
    try {
      expect((await fetch(`${emr.baseUrl}/Patient`)).status).toBe(401);
      expect((await fetch(`${emr.baseUrl}/Patient`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${emr.baseUrl}/Patient`, { headers: { authorization: 'Bearer sesame' } })).status).toBe(200);
      // metadata is public, as on real servers.
      expect((await fetch(`${emr.baseUrl}/metadata`)).status).toBe(200);
      expect(emr.counters().unauthorized).toBe(2);
    } finally {
      await emr.close();
    }
  });

  test('client_credentials: a token is issued for the right secret and expires after its lifetime', async () => {
    let now = Date.parse('2026-06-01T00:00:00Z');
    const emr = await seededSandbox(
      {},
      {
        auth: { mode: 'client_credentials', clientId: 'c1', clientSecret: 's1', tokenLifetimeSeconds: 60 },
        now: () => now,
      },
    );
    try {
      const form = (secret: string): RequestInit => ({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: 'c1',
          client_secret: secret,
        }).toString(),
      });
      expect((await fetch(emr.tokenUrl, form('wrong'))).status).toBe(401);
      const res = await fetch(emr.tokenUrl, form('s1'));
      const token = (await res.json()) as { access_token: string; expires_in: number; token_type: string };
      expect(token).toMatchObject({ expires_in: 60, token_type: 'bearer' });
      const auth = { headers: { authorization: `Bearer ${token.access_token}` } };
      expect((await fetch(`${emr.baseUrl}/Patient`, auth)).status).toBe(200);
      now += 61_000;
      expect((await fetch(`${emr.baseUrl}/Patient`, auth)).status).toBe(401);
      // Basic client authentication works too.
      const basic = await fetch(emr.tokenUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from('c1:s1').toString('base64')}`,
        },
        body: 'grant_type=client_credentials',
      });
      expect(basic.status).toBe(200);
      expect(emr.counters().tokensIssued).toBe(2);
    } finally {
      await emr.close();
    }
  });

  test('smart-backend: a JWT assertion signed with the registered key gets a token; another key or a replayed jti does not', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS384');
    const other = await generateKeyPair('RS384');
    const emr = await seededSandbox(
      {},
      {
        auth: {
          mode: 'smart-backend',
          clientId: 'backend',
          publicJwk: { ...(await exportJWK(publicKey)), alg: 'RS384' },
        },
      },
    );
    try {
      const assertion = (key: KeyLike, jti: string): Promise<string> =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'RS384', kid: 'k1' })
          .setIssuer('backend')
          .setSubject('backend')
          .setAudience(emr.tokenUrl)
          .setJti(jti)
          .setExpirationTime('4m')
          .sign(key);
      const ask = async (jwt: string): Promise<Response> =>
        fetch(emr.tokenUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            scope: 'system/*.read',
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: jwt,
          }).toString(),
        });
      const ok = await ask(await assertion(privateKey, 'jti-1'));
      expect(ok.status).toBe(200);
      const { access_token } = (await ok.json()) as { access_token: string };
      expect(
        (await fetch(`${emr.baseUrl}/Patient`, { headers: { authorization: `Bearer ${access_token}` } })).status,
      ).toBe(200);
      expect((await ask(await assertion(other.privateKey, 'jti-2'))).status).toBe(401);
      const replay = await ask(await assertion(privateKey, 'jti-1'));
      expect(replay.status).toBe(401);
      expect(((await replay.json()) as { error_description: string }).error_description).toContain(
        'jti was already used',
      );
      const discovery = await getJson<{ token_endpoint: string }>(`${emr.baseUrl}/.well-known/smart-configuration`);
      expect(discovery.body.token_endpoint).toBe(emr.tokenUrl);
    } finally {
      await emr.close();
    }
  });
});

describe('sandbox EMR: quirks fire as configured and are counted', () => {
  let emr: SandboxServer;
  beforeAll(async () => {
    emr = await seededSandbox({ patients: 10 });
  });
  afterAll(() => emr.close());

  test('page size cap ignores a larger _count', async () => {
    emr.setQuirks({ maxPageSize: 7 });
    const { body } = await getJson<Bundle>(`${emr.baseUrl}/Appointment?_count=100`);
    expect(body.entry).toHaveLength(7);
    expect(nextLink(body)).toBeDefined();
    expect(emr.counters().cappedPages).toBe(1);
  });

  test('every Nth request is 429 with Retry-After', async () => {
    emr.setQuirks({ rateLimitEvery: 3, retryAfterSeconds: 2 });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${emr.baseUrl}/Patient?_count=1`);
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses).toEqual([200, 200, 429, 200, 200, 429]);
    expect(retryAfter).toBe('2');
    expect(emr.counters().rateLimited).toBe(2);
  });

  test('a fraction of requests answer 500/503, deterministically for a seed', async () => {
    emr.setQuirks({ errorRate: 0.5, errorStatuses: [500, 503], seed: 9 });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await fetch(`${emr.baseUrl}/Patient?_count=1`)).status);
    const errors = statuses.filter((s) => s !== 200);
    expect(errors.length).toBe(emr.counters().serverErrors);
    expect(errors.length).toBeGreaterThan(8);
    expect(errors.length).toBeLessThan(32);
    expect(new Set(errors)).toEqual(new Set([500, 503]));
    emr.setQuirks({ errorRate: 0.5, errorStatuses: [500, 503], seed: 9 });
    const again: number[] = [];
    for (let i = 0; i < 40; i++) again.push((await fetch(`${emr.baseUrl}/Patient?_count=1`)).status);
    expect(again).toEqual(statuses);
  });

  test('errorStatuses given on the command line (--quirks errorStatuses=502+504) are the statuses sent', async () => {
    emr.setQuirks(parseQuirksArg('errorRate=1,errorStatuses=502+504,seed=4'));
    const statuses = new Set<number>();
    for (let i = 0; i < 20; i++) statuses.add((await fetch(`${emr.baseUrl}/Patient?_count=1`)).status);
    expect(statuses).toEqual(new Set([502, 504]));
    emr.setQuirks(parseQuirksArg('errorRate=1,errorStatuses=504'));
    expect((await fetch(`${emr.baseUrl}/Patient?_count=1`)).status).toBe(504);
  });

  test('slow responses are delayed', async () => {
    emr.setQuirks({ delayMs: 120 });
    const t0 = performance.now();
    await fetch(`${emr.baseUrl}/Patient?_count=1`);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
    expect(emr.counters().delayed).toBe(1);
  });

  test('opaque next links (Cerner-style -pageContext) page through everything', async () => {
    emr.setQuirks({ opaqueNextLinks: true });
    const { body } = await getJson<Bundle>(`${emr.baseUrl}/Appointment?_count=10`);
    const next = nextLink(body) as string;
    expect(next).toMatch(/-pageContext=[A-Za-z0-9_-]+&-pageDirection=NEXT$/);
    expect(next).not.toContain('_cursor');
    const all = await pageAll(`${emr.baseUrl}/Appointment?_count=10`);
    expect(all.resources).toHaveLength(emr.repo.count('Appointment'));
    expect(emr.counters().opaqueLinks).toBeGreaterThanOrEqual(all.pages - 1);
  });

  test('system-wide search refused for chosen types: patient= required', async () => {
    emr.setQuirks({ requirePatientFor: ['Appointment'] });
    const refused = await getJson<OperationOutcome>(`${emr.baseUrl}/Appointment`);
    expect(refused.status).toBe(400);
    expect(refused.body.issue[0]?.code).toBe('required');
    expect((await fetch(`${emr.baseUrl}/Appointment?patient=gen-pat-000001`)).status).toBe(200);
    expect((await fetch(`${emr.baseUrl}/Patient`)).status).toBe(200);
    expect(emr.counters().refusedSystemSearch).toBe(1);
  });

  test('one malformed JSON body on the chosen search', async () => {
    emr.setQuirks({ malformedJsonOnSearch: 2 });
    const bodies: string[] = [];
    for (let i = 0; i < 3; i++) bodies.push(await (await fetch(`${emr.baseUrl}/Patient?_count=2`)).text());
    expect(() => JSON.parse(bodies[0] as string)).not.toThrow();
    expect(() => JSON.parse(bodies[1] as string)).toThrow();
    expect(() => JSON.parse(bodies[2] as string)).not.toThrow();
    expect(emr.counters().malformedBodies).toBe(1);
  });

  test('CapabilityStatement can leave _lastUpdated out for chosen types', async () => {
    emr.setQuirks({ omitLastUpdatedFor: ['CarePlan'] });
    const { body } = await getJson<CapabilityStatement>(`${emr.baseUrl}/metadata`);
    const params = (type: string): string[] | undefined =>
      body.rest?.[0]?.resource?.find((r) => r.type === type)?.searchParam?.map((p) => p.name);
    expect(params('CarePlan')).not.toContain('_lastUpdated');
    expect(params('Patient')).toContain('_lastUpdated');
  });

  test('resources that violate the FHIR schema are served and counted', async () => {
    const repo = new SandboxRepository();
    const seeded = await seedRepository(repo, {
      patients: 3,
      seed: 1,
      anchor: TEST_ANCHOR,
      fixtures: false,
      invalidResources: 4,
    });
    const server = await startSandbox({ repo });
    try {
      expect(seeded.invalid.map((i) => i.expression)).toEqual(INVALID_VARIANTS.map((v) => v.expression));
      const all = await pageAll(`${server.baseUrl}/Appointment?_count=100`);
      const invalid = all.resources.filter((r) => r.id?.startsWith('invalid-'));
      expect(invalid).toHaveLength(4);
      expect((invalid.find((r) => r.id === 'invalid-appt-001') as unknown as { status: string }).status).toBe(
        'maybe-later',
      );
      expect(server.counters().invalidServed).toBe(4);
    } finally {
      await server.close();
    }
  });
});
