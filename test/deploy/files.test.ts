/**
 * The container and monitoring files cannot be run on a machine without a
 * Docker daemon or Prometheus: what can be checked is checked — every path
 * the Dockerfile copies exists, compose wires the service to PostgreSQL with
 * secrets from the environment, and every metric an alert rule names is one
 * the service exports.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { Metrics } from '../../src/api/metrics';
import { memoryStore } from '../helpers/store';
import { ROOT } from '../helpers/cli';

test('the Dockerfile copies only paths that exist, runs as a non-root user, and checks /api/ready', () => {
  const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const copies = [...text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => (m[1] as string).split(/\s+/));
  expect(copies.length).toBeGreaterThan(5);
  for (const p of copies) expect(existsSync(path.join(ROOT, p))).toBe(true);
  expect(text).toMatch(/^USER node$/m);
  expect(text).toContain('npm ci --omit=dev');
  expect(text).toMatch(/HEALTHCHECK[\s\S]*\/api\/ready/);
  // The definitions cache is built at image build time, before the user that cannot write node_modules.
  const build = /^RUN node -e "require\('\.\/dist\/(validation\/definitions)'\)\.(\w+)\(/m.exec(text);
  expect(build).not.toBeNull();
  expect(text.indexOf(build?.[0] as string)).toBeLessThan(text.indexOf('USER node'));
  expect(readFileSync(path.join(ROOT, 'src', `${build?.[1]}.ts`), 'utf8')).toContain(`export function ${build?.[2]}(`);
});

test('compose runs the service against PostgreSQL, with secrets from the environment and the port on this host only', () => {
  const compose = parse(readFileSync(path.join(ROOT, 'compose.yaml'), 'utf8')) as {
    services: Record<
      string,
      { environment?: Record<string, string>; ports?: string[]; depends_on?: Record<string, unknown> }
    >;
  };
  const app = compose.services['fhir-engage'];
  expect(app?.environment?.DATABASE_URL).toMatch(/^postgres:\/\/fhir_engage:\$\{POSTGRES_PASSWORD\}@postgres:5432\//);
  expect(app?.environment?.FHIR_ENGAGE_API_KEY).toMatch(/^\$\{FHIR_ENGAGE_API_KEY:\?/);
  expect(app?.ports).toEqual(['127.0.0.1:8080:8080']);
  expect(Object.keys(app?.depends_on ?? {})).toEqual(['postgres']);
});

test('every metric the example alert rules use is exported by the service', async () => {
  const rules = parse(readFileSync(path.join(ROOT, 'deploy', 'alerts.yaml'), 'utf8')) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  const store = await memoryStore();
  try {
    const metrics = new Metrics(false);
    metrics.watch(store);
    const names = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      const used = [...rule.expr.matchAll(/\b(fhir_engage_[a-z_]+)/g)].map((m) => m[1] as string);
      expect(used.length).toBeGreaterThan(0);
      for (const name of used)
        expect([rule.alert, names.has(name) ? name : `missing ${name}`]).toEqual([rule.alert, name]);
    }
  } finally {
    await store.close();
  }
});
