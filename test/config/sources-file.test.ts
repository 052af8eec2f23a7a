import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { closest, parseSourcesFile, PATTERNS_IN_WORDS } from '../../src/config/sources-file';
import schemaJson from '../../src/config/config.schema.json';
import { loadConfig } from '../../src/config/load';
import { DEFAULT_LIMITS, type SourceConfig } from '../../src/config/types';
import { programmesOf } from '../../src/config/programme-settings';
import { describeError, EngageError } from '../../src/errors';
import { DEFAULT_INDICATOR_SETTINGS } from '../../src/config/indicator-settings';
import { DEFAULT_ACTION_SETTINGS } from '../../src/config/action-settings';

function problemsOf(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseSourcesFile(text, 'sources.yaml', env);
  } catch (err) {
    expect(err).toBeInstanceOf(EngageError);
    return describeError(err).split('\n');
  }
  throw new Error('expected the file to be rejected');
}

describe('sources file', () => {
  test('per-patient mode searches the members of the export Group unless perPatientGroup names another', () => {
    const text = (extra: string): string =>
      `sources:\n  - id: a\n    baseUrl: https://emr.example/fhir\n    pull: { method: auto, bulk: { groupId: cohort-1 } }\n${extra}`;
    expect(parseSourcesFile(text('    mode: per-patient\n'), 'x.yaml', {}).sources[0]?.perPatientGroup).toBe(
      'cohort-1',
    );
    expect(
      parseSourcesFile(text('    mode: per-patient\n    perPatientGroup: other\n'), 'x.yaml', {}).sources[0]
        ?.perPatientGroup,
    ).toBe('other');
    // System mode searches the population: no Group is read.
    expect(parseSourcesFile(text(''), 'x.yaml', {}).sources[0]?.perPatientGroup).toBeUndefined();
  });

  test('a minimal source gets documented defaults', () => {
    const file = parseSourcesFile('sources:\n  - id: a\n    baseUrl: https://emr.example/fhir\n', 'x.yaml', {});
    expect(file.sources[0]).toEqual({
      id: 'a',
      baseUrl: 'https://emr.example/fhir',
      auth: { type: 'none' },
      resourceTypes: ['Patient', 'Appointment', 'CarePlan', 'QuestionnaireResponse'],
      pageSize: 100,
      mode: 'system',
      rateLimit: { requestsPerSecond: 10, concurrency: 4 },
      timeoutMs: 30000,
      maxRetries: 5,
      overlapSeconds: 300,
      writeBatchSize: 50,
      writeQuestionnaires: false,
      writeBack: true,
      pull: { method: 'search', bulk: { level: 'system', pollTimeoutSeconds: 3600, parallelDownloads: 2 } },
      allowedOrigins: [],
      limits: {
        maxResponseMB: 64,
        maxInflationRatio: 100,
        maxEntriesPerPage: 10,
        maxPagesPerSearch: 100000,
        runDeadlineMinutes: 360,
      },
    });
    expect(file.sources[0]?.limits).toEqual(DEFAULT_LIMITS);
  });

  test('credentials inside a base URL are refused without being printed; a UTF-8 byte-order mark is accepted', () => {
    const text =
      'sources:\n  - id: a\n    baseUrl: https://admin:hunter2@emr.example/fhir\n    writeTarget:\n      baseUrl: https://svc:s3cret@writer.example/fhir\n';
    let message = '';
    try {
      parseSourcesFile(text, 'x.yaml', {});
    } catch (err) {
      message = (err as Error).message + JSON.stringify(err);
    }
    expect(message).toContain('x.yaml:3: sources[0].baseUrl must not contain credentials (user:password@)');
    expect(message).toContain('sources[0].writeTarget.baseUrl must not contain credentials');
    expect(message).not.toMatch(/hunter2|s3cret|admin:/);
    const bom = parseSourcesFile('\uFEFFsources:\n  - id: b\n    baseUrl: https://emr.example/fhir\n', 'bom.yaml', {});
    expect(bom.sources[0]?.id).toBe('b');
  });

  test('bulk settings: group level by default when a groupId is given; group level without one is an error naming the field and line', () => {
    const grouped = parseSourcesFile(
      'sources:\n  - id: a\n    baseUrl: https://emr.example/fhir\n    pull:\n      method: auto\n      bulk: { groupId: cohort-1 }\n',
      'x.yaml',
      {},
    );
    expect(grouped.sources[0]?.pull).toEqual({
      method: 'auto',
      bulk: { level: 'group', groupId: 'cohort-1', pollTimeoutSeconds: 3600, parallelDownloads: 2 },
    });
    expect(() =>
      parseSourcesFile(
        'sources:\n  - id: a\n    baseUrl: https://emr.example/fhir\n    pull:\n      bulk: { level: group }\n',
        'x.yaml',
        {},
      ),
    ).toThrow('x.yaml:5: sources[0].pull.bulk.groupId is required when pull.bulk.level is group');
    expect(() =>
      parseSourcesFile(
        'sources:\n  - id: a\n    baseUrl: https://emr.example/fhir\n    pull: { method: sometimes }\n',
        'x.yaml',
        {},
      ),
    ).toThrow('sources[0].pull.method must be one of "search", "bulk", "auto"');
  });

  test('JSON files are accepted too', () => {
    const file = parseSourcesFile('{"sources":[{"id":"j","baseUrl":"http://x/fhir","pageSize":20}]}', 'x.json', {});
    expect(file.sources[0]?.pageSize).toBe(20);
  });

  test('${ENV_VAR} references are expanded from the environment', () => {
    const file = parseSourcesFile(
      'sources:\n  - id: a\n    baseUrl: ${EMR_URL}/r4\n    auth: { type: bearer, token: "${EMR_TOKEN}" }\n',
      'x.yaml',
      { EMR_URL: 'https://emr.example', EMR_TOKEN: 'tok' },
    );
    expect(file.sources[0]?.baseUrl).toBe('https://emr.example/r4');
    expect(file.sources[0]?.auth).toEqual({ type: 'bearer', token: 'tok' });
  });

  test('a missing environment variable is named, with the field and line', () => {
    expect(
      problemsOf('sources:\n  - id: a\n    baseUrl: https://x\n    auth: { type: bearer, token: "${EMR_TOKEN}" }\n'),
    ).toEqual([
      'error: sources.yaml:4: sources[0].auth.token refers to environment variable EMR_TOKEN, which is not set: set it in .env or the environment',
    ]);
  });

  test('a secret written literally in the file is refused', () => {
    expect(
      problemsOf(
        'sources:\n  - id: a\n    baseUrl: https://x\n    auth:\n      type: basic\n      username: u\n      password: hunter2\n',
      ),
    ).toEqual([
      'error: sources.yaml:7: sources[0].auth.password is a secret and must be an ${ENV_VAR} reference, not a literal value in the file',
    ]);
  });

  test.each([
    [
      'an unknown field',
      'sources:\n  - id: a\n    baseUrl: https://x\n    colour: blue\n',
      'sources.yaml:4: sources[0].colour is not a known field',
    ],
    [
      'a wrong enum value',
      'sources:\n  - id: a\n    baseUrl: https://x\n    mode: sideways\n',
      'sources.yaml:4: sources[0].mode must be one of "system", "per-patient"',
    ],
    ['a missing required field', 'sources:\n  - id: a\n', 'sources.yaml:2: sources[0].baseUrl is required'],
    [
      'a number out of range',
      'sources:\n  - id: a\n    baseUrl: https://x\n    pageSize: 0\n',
      'sources.yaml:4: sources[0].pageSize must be >= 1',
    ],
    [
      'an unknown auth type',
      'sources:\n  - id: a\n    baseUrl: https://x\n    auth: { type: kerberos }\n',
      'sources.yaml:4: sources[0].auth.type must be one of',
    ],
    [
      'an auth field of another type',
      'sources:\n  - id: a\n    baseUrl: https://x\n    auth: { type: none, token: "${T}" }\n',
      'sources[0].auth.token is not a known field',
    ],
    [
      'a bad cron expression',
      'sources:\n  - id: a\n    baseUrl: https://x\n    schedule: "every tuesday"\n',
      'sources.yaml:4: sources[0].schedule is not a valid cron expression',
    ],
    [
      'duplicate ids',
      'sources:\n  - id: a\n    baseUrl: https://x\n  - id: a\n    baseUrl: https://y\n',
      'sources.yaml:4: sources[1].id duplicates the id of sources[0]',
    ],
    [
      'a missing key file',
      'sources:\n  - id: a\n    baseUrl: https://x\n    auth: { type: smart-backend, clientId: c, keyFile: /nonexistent/key.pem }\n',
      'sources[0].auth.keyFile names a file that cannot be read',
    ],
    [
      'per-patient mode without Patient',
      'sources:\n  - id: a\n    baseUrl: https://x\n    mode: per-patient\n    resourceTypes: [Appointment]\n',
      'sources[0].resourceTypes must include Patient',
    ],
    ['invalid YAML', 'sources: [ {id: a\n', 'sources.yaml:2: not valid YAML/JSON'],
    ['a list at the top', '- a\n- b\n', 'sources.yaml: must be a mapping with a "sources" list'],
  ])('%s is reported with file, line and field path', (_name, text, expected) => {
    const problems = problemsOf(text);
    expect(problems.join('\n')).toContain(expected);
  });

  test('every problem in a file is reported at once', () => {
    const problems = problemsOf('sources:\n  - id: a\n    baseUrl: nope\n    mode: x\n    pageSize: -1\n');
    expect(problems).toHaveLength(3);
  });

  test('smart-backend key paths are resolved against the file and get algorithm defaults', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-cfg-'));
    writeFileSync(path.join(dir, 'key.pem'), 'not checked here');
    const file = parseSourcesFile(
      'sources:\n  - id: a\n    baseUrl: https://x\n    auth: { type: smart-backend, clientId: c, keyFile: key.pem }\n',
      path.join(dir, 'sources.yaml'),
      {},
    );
    expect(file.sources[0]?.auth).toEqual({
      type: 'smart-backend',
      clientId: 'c',
      keyFile: path.join(dir, 'key.pem'),
      algorithm: 'RS384',
      scope: 'system/*.read system/*.write',
    });
  });
});

describe('loadConfig', () => {
  test('with no sources file and no DATABASE_URL: no sources, PGlite in ./data', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-cfg-'));
    const config = loadConfig({ env: {}, cwd: dir });
    expect(config).toEqual({
      configFile: undefined,
      sources: [],
      indicators: DEFAULT_INDICATOR_SETTINGS,
      actions: DEFAULT_ACTION_SETTINGS,
      store: { databaseUrl: undefined, schema: 'public', dataDir: path.join(dir, 'data') },
      logLevel: 'info',
      keysDir: path.join(dir, 'keys'),
      service: { port: 8080, host: '127.0.0.1', apiKeys: [], auditRetentionDays: 400, trustedProxies: [] },
    });
    expect(Object.isFrozen(config.store)).toBe(true);
  });

  test('the environment is read once into the configuration: port, API keys, as-of; bad values name the variable', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-cfg-'));
    const config = loadConfig({
      env: {
        FHIR_ENGAGE_PORT: '9191',
        FHIR_ENGAGE_HOST: '0.0.0.0',
        FHIR_ENGAGE_API_KEY: ' k1 , k2 ',
        FHIR_ENGAGE_AS_OF: '2026-06-30',
        FHIR_ENGAGE_AUDIT_RETENTION_DAYS: '30',
      },
      cwd: dir,
    });
    expect(config.service).toEqual({
      port: 9191,
      host: '0.0.0.0',
      apiKeys: ['k1', 'k2'],
      auditRetentionDays: 30,
      trustedProxies: [],
    });
    expect(
      loadConfig({ env: { FHIR_ENGAGE_TRUSTED_PROXIES: 'loopback, 10.0.0.0/8' }, cwd: dir }).service.trustedProxies,
    ).toEqual(['loopback', '10.0.0.0/8']);
    expect(() => loadConfig({ env: { FHIR_ENGAGE_TRUSTED_PROXIES: 'proxy.example' }, cwd: dir })).toThrow(
      'FHIR_ENGAGE_TRUSTED_PROXIES: "proxy.example" is not an address',
    );
    expect(() => loadConfig({ env: { FHIR_ENGAGE_HOST: 'a host; rm -rf' }, cwd: dir })).toThrow(
      'FHIR_ENGAGE_HOST must be a host name or an IP address',
    );
    expect(() => loadConfig({ env: { FHIR_ENGAGE_AUDIT_RETENTION_DAYS: '0' }, cwd: dir })).toThrow(
      'FHIR_ENGAGE_AUDIT_RETENTION_DAYS must be a whole number of days',
    );
    expect(config.asOf?.toISOString()).toBe('2026-06-30T00:00:00.000Z');
    expect(() => loadConfig({ env: { FHIR_ENGAGE_PORT: 'eighty' }, cwd: dir })).toThrow(
      'FHIR_ENGAGE_PORT must be a port number',
    );
    expect(() => loadConfig({ env: { FHIR_ENGAGE_AS_OF: 'last tuesday' }, cwd: dir })).toThrow(
      'FHIR_ENGAGE_AS_OF must be an ISO date',
    );
    expect(() => loadConfig({ env: { LOG_LEVEL: 'loud' }, cwd: dir })).toThrow(
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    );
  });

  test('mapping overrides outside the installation: FHIR_ENGAGE_MAPPINGS or mappingsDir (relative to the file); a missing folder is named', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-cfg-'));
    mkdirSync(path.join(dir, 'team-mappings'));
    writeFileSync(
      path.join(dir, 'fhir-engage.config.yaml'),
      'mappingsDir: team-mappings\nsources:\n  - id: a\n    baseUrl: https://x\n',
    );
    expect(loadConfig({ env: {}, cwd: dir }).mappingsDir).toBe(path.join(dir, 'team-mappings'));
    expect(() => loadConfig({ env: { FHIR_ENGAGE_MAPPINGS: 'nowhere' }, cwd: dir })).toThrow(
      `the mappings folder ${path.join(dir, 'nowhere')} (FHIR_ENGAGE_MAPPINGS) does not exist`,
    );
  });

  test('finds ./fhir-engage.config.yaml by default and FHIR_ENGAGE_CONFIG when set', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-cfg-'));
    writeFileSync(path.join(dir, 'fhir-engage.config.yaml'), 'sources:\n  - id: dflt\n    baseUrl: https://x\n');
    writeFileSync(path.join(dir, 'other.json'), '{"sources":[{"id":"other","baseUrl":"https://y"}]}');
    expect(loadConfig({ env: {}, cwd: dir }).sources.map((s) => s.id)).toEqual(['dflt']);
    expect(loadConfig({ env: { FHIR_ENGAGE_CONFIG: 'other.json' }, cwd: dir }).sources.map((s) => s.id)).toEqual([
      'other',
    ]);
  });

  test('indicator and action settings override their defaults key by key, and are checked', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-cfg-'));
    writeFileSync(
      path.join(dir, 'fhir-engage.config.yaml'),
      'indicators:\n  phq9FollowUpDays: 14\n  weights: { adherence: 1 }\nactions:\n  disabled: [engagement-score]\n  taskOwner: Organization/care-team\n',
    );
    const config = loadConfig({ env: {}, cwd: dir });
    expect(config.indicators.phq9FollowUpDays).toBe(14);
    expect(config.indicators.weights).toEqual({ ...DEFAULT_INDICATOR_SETTINGS.weights, adherence: 1 });
    expect(config.actions).toEqual({
      ...DEFAULT_ACTION_SETTINGS,
      disabled: ['engagement-score'],
      taskOwner: 'Organization/care-team',
    });
    writeFileSync(path.join(dir, 'fhir-engage.config.yaml'), 'indicators:\n  tiers: { engaged: 30, atRisk: 50 }\n');
    expect(() => loadConfig({ env: {}, cwd: dir })).toThrow(
      'indicators.tiers.atRisk (50) must not be above indicators.tiers.engaged (30)',
    );
    writeFileSync(path.join(dir, 'fhir-engage.config.yaml'), 'actions:\n  disabled: [spam-everyone]\n');
    expect(() => loadConfig({ env: {}, cwd: dir })).toThrow('actions.disabled[0] must be one of');
  });

  test.each([
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must start with postgres://'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be one of'],
    [{ DATABASE_SCHEMA: 'Robert"); DROP' }, 'DATABASE_SCHEMA must be a lower-case SQL identifier'],
    [{ FHIR_ENGAGE_CONFIG: '/nonexistent/sources.yaml' }, 'cannot read sources file /nonexistent/sources.yaml'],
  ])('a bad environment %j is a configuration error', (env, message) => {
    expect(() => loadConfig({ env, cwd: os.tmpdir() })).toThrow(message);
  });
});

describe('programmes', () => {
  test('time zone, phased start and cap per source, each programme inheriting what it does not set', () => {
    const parsed = parseSourcesFile(
      [
        'sources:',
        '  - id: a',
        '    baseUrl: https://emr.example/fhir',
        '    timeZone: America/Chicago',
        '    phasedStart: { days: 14 }',
        '    maxNewTasksPerRun: 50',
        '    programmes:',
        '      - { id: x, name: X, enrol: { group: g } }',
        '      - { id: y, name: Y, enrol: { group: h }, timeZone: Europe/Madrid, phasedStart: { days: 0 } }',
        '',
      ].join('\n'),
      'p.yaml',
      {},
    );
    expect(
      programmesOf(parsed.sources[0] as SourceConfig).map((p) => [
        p.id,
        p.timeZone,
        p.phasedStart,
        p.maxNewTasksPerRun,
      ]),
    ).toEqual([
      ['x', 'America/Chicago', { days: 14 }, 50],
      ['y', 'Europe/Madrid', { days: 0 }, 50],
    ]);
    expect(() =>
      parseSourcesFile('sources:\n  - id: a\n    baseUrl: https://emr.example/fhir\n    timeZone: CST\n', 'p.yaml', {}),
    ).toThrow("p.yaml:4: sources[0].timeZone is not an IANA time zone this runtime knows: 'CST'");
  });

  const file = (programmes: string): string =>
    `sources:\n  - id: a\n    baseUrl: https://emr.example/fhir\n    programmes:\n${programmes}`;

  test('a source with programmes keeps them as written: criteria, rules and their settings', () => {
    const parsed = parseSourcesFile(
      file(
        [
          '      - id: diabetes',
          '        name: Diabetes',
          '        enrol:',
          '          any:',
          '            - group: diabetes-referrals',
          "            - carePlan: { codes: ['http://snomed.info/sct|698360004'] }",
          '        rules: [appointment-reminder, outreach-no-shows]',
          '        actions: { taskOwner: Organization/diabetes-team, reminders: { leadTimesDays: [2] } }',
          '',
        ].join('\n'),
      ),
      'p.yaml',
      {},
    );
    expect(parsed.sources[0]?.programmes).toEqual([
      {
        id: 'diabetes',
        name: 'Diabetes',
        enrol: {
          any: [{ group: 'diabetes-referrals' }, { carePlan: { codes: ['http://snomed.info/sct|698360004'] } }],
        },
        rules: ['appointment-reminder', 'outreach-no-shows'],
        actions: { taskOwner: 'Organization/diabetes-team', reminders: { leadTimesDays: [2] } },
      },
    ]);
  });

  test.each([
    [
      '      - id: x\n        name: X\n        enrol: { group: g, carePlan: {} }\n',
      'p.yaml:7: sources[0].programmes[0].enrol must name exactly one criterion: group, carePlan, appointment, questionnaire, patients, any or all',
    ],
    [
      '      - id: x\n        name: X\n        enrol: { group: g }\n        rules: [send-flowers]\n',
      'sources[0].programmes[0].rules[0]',
    ],
    [
      '      - id: x\n        name: X\n        enrol: { group: g }\n      - id: x\n        name: Y\n        enrol: { group: h }\n',
      'p.yaml:8: sources[0].programmes[1].id duplicates the id of programmes[0]',
    ],
    ['      - id: Bad Id\n        name: X\n        enrol: { group: g }\n', 'sources[0].programmes[0].id'],
    [
      '      - id: x\n        name: X\n        enrol: { group: g }\n        timeZone: America/Chicgo\n',
      "p.yaml:8: sources[0].programmes[0].timeZone is not an IANA time zone this runtime knows: 'America/Chicgo' (write it as Region/City, e.g. America/Chicago or Europe/Madrid)",
    ],
    [
      '      - id: x\n        name: X\n        enrol: { group: g }\n        actions: { reminders: { sendWindow: { start: 9am, end: "19:00" } } }\n',
      'sources[0].programmes[0].actions.reminders.sendWindow.start',
    ],
    [
      '      - id: x\n        name: X\n        enrol: { group: g }\n        maxNewTasksPerRun: 0\n',
      'sources[0].programmes[0].maxNewTasksPerRun',
    ],
  ])('a broken programme is an error naming the field and line (%#)', (programmes, says) => {
    expect(() => parseSourcesFile(file(programmes), 'p.yaml', {})).toThrow(says);
  });
});

describe('safety alerts', () => {
  const file = (alerts: string): string =>
    `sources:\n  - id: a\n    baseUrl: https://emr.example/fhir\nsafetyAlerts:\n${alerts}`;

  test('webhook and email settings load with the default re-send, secrets from the environment', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-alerts-'));
    const configFile = path.join(dir, 'sources.yaml');
    writeFileSync(
      configFile,
      file(
        [
          '  webhook: { url: https://oncall.example/hook, secret: "${HOOK_SECRET}" }',
          '  email:',
          '    to: [oncall@clinic.example]',
          '    from: engage@clinic.example',
          '    smtp: { host: smtp.clinic.example, user: engage, password: "${SMTP_PASSWORD}" }',
          '',
        ].join('\n'),
      ),
    );
    const config = loadConfig({ configFile, env: { HOOK_SECRET: 's1', SMTP_PASSWORD: 'p1' }, cwd: dir });
    expect(config.safetyAlerts).toEqual({
      resendAfterMinutes: 60,
      webhook: { url: 'https://oncall.example/hook', secret: 's1' },
      email: {
        to: ['oncall@clinic.example'],
        from: 'engage@clinic.example',
        smtp: { host: 'smtp.clinic.example', user: 'engage', password: 'p1' },
      },
    });
  });

  test.each([
    [
      '  webhook: { url: https://oncall.example/hook, secret: plain-text }\n',
      'safetyAlerts.webhook.secret is a secret',
    ],
    ['  webhook: { url: ftp://oncall.example/hook }\n', 'safetyAlerts.webhook.url'],
    ['  email: { to: [not-an-address], from: a@b.c, smtp: { host: h } }\n', 'safetyAlerts.email.to[0]'],
    ['  email: { to: [a@b.c], from: a@b.c, smtp: { host: h, tls: maybe } }\n', 'safetyAlerts.email.smtp.tls'],
  ])('a broken alert setting is an error naming the field (%#)', (alerts, says) => {
    expect(() => parseSourcesFile(file(alerts), 'p.yaml', {})).toThrow(says);
  });
});

describe('every problem in words, at once', () => {
  test('a mistyped key gets "did you mean", a URL without http(s) is said in words, an unset ${VAR} says where to set it — all in one pass', () => {
    expect(
      problemsOf(
        'sources:\n  - id: a\n    baseUrl: ftp://emr.example\n    pagesize: 50\n    auth: { type: bearer, token: "${UNSET_TOKEN}" }\n  - id: b\n    baseUrl: https://y\n    rateLimt: { requestsPerSecond: 2 }\n    colour: blue\n',
      ),
    ).toEqual([
      'error: sources.yaml:5: sources[0].auth.token refers to environment variable UNSET_TOKEN, which is not set: set it in .env or the environment',
      'error: sources.yaml:4: sources[0].pagesize is not a known field; did you mean `pageSize`?',
      'error: sources.yaml:3: sources[0].baseUrl must be an http:// or https:// address',
      'error: sources.yaml:8: sources[1].rateLimt is not a known field; did you mean `rateLimit`?',
      'error: sources.yaml:9: sources[1].colour is not a known field',
    ]);
  });

  test('every pattern of the schema is said in words (no regular expression reaches a message)', () => {
    const patterns = new Set<string>();
    JSON.stringify(schemaJson, (k, v: unknown) => {
      if (k === 'pattern' && typeof v === 'string') patterns.add(v);
      return v;
    });
    expect([...patterns].filter((p) => !PATTERNS_IN_WORDS[p])).toEqual([]);
  });

  test('closest: within two edits (one for short keys), case aside; otherwise nothing', () => {
    expect(closest('pagesize', ['pageSize', 'pull'])).toBe('pageSize');
    expect(closest('baseurl', ['baseUrl'])).toBe('baseUrl');
    expect(closest('tmeout', ['timeoutMs'])).toBeUndefined();
    expect(closest('mdoe', ['mode'])).toBeUndefined();
    expect(closest('mod', ['mode'])).toBe('mode');
  });
});
