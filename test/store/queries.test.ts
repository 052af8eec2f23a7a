import * as sql from '../../src/store/queries';
import { canonicalJson, resourceContentHash } from '../../src/store/content-hash';

describe('SQL builders', () => {
  test('values are passed as parameters, never interpolated', () => {
    const evil = "x'); DROP TABLE resources; --";
    for (const q of [
      sql.getWatermark(evil, evil),
      sql.advanceWatermark(evil, evil, new Date(0)),
      sql.getResource(evil, evil, evil),
      sql.listDeadLetters({ sourceId: evil, runId: evil, resourceType: evil, stage: evil }, 5),
      sql.dismissDeadLetter(1, evil, evil),
      sql.upsertSource(evil, evil, evil),
    ]) {
      expect(q.text).not.toContain(evil);
      expect(q.values).toContain(evil);
      const placeholders = new Set([...q.text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
      expect(Math.max(...placeholders)).toBe(q.values.length);
    }
  });

  test('a resource batch is one JSON document (one row per resource), its values never in the SQL text', () => {
    const q = sql.upsertResources('s', 'r', [
      {
        resourceType: 'Patient',
        resourceId: '1',
        versionId: '2',
        lastUpdated: new Date('2026-01-01T00:00:00Z'),
        contentHash: 'h1',
        patientId: '1',
        resource: { resourceType: 'Patient', id: '1' },
      },
      {
        resourceType: 'Appointment',
        resourceId: "a'); DROP",
        versionId: null,
        lastUpdated: null,
        contentHash: 'h2',
        patientId: null,
        resource: { a: 1 },
      },
    ]);
    expect(q.values.slice(0, 2)).toEqual(['s', 'r']);
    expect(JSON.parse(q.values[2] as string)).toEqual([
      {
        resource_type: 'Patient',
        resource_id: '1',
        version_id: '2',
        last_updated: '2026-01-01T00:00:00.000Z',
        content_hash: 'h1',
        patient_id: '1',
        resource: { resourceType: 'Patient', id: '1' },
      },
      {
        resource_type: 'Appointment',
        resource_id: "a'); DROP",
        version_id: null,
        last_updated: null,
        content_hash: 'h2',
        patient_id: null,
        resource: { a: 1 },
      },
    ]);
    expect(q.text).not.toContain('DROP');
  });
});

describe('content hash', () => {
  test('key order does not matter', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
  });

  test('a new versionId or lastUpdated alone is not a change, other meta is', () => {
    const base = {
      resourceType: 'Patient',
      id: '1',
      meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00Z' },
      gender: 'female',
    };
    expect(resourceContentHash({ ...base, meta: { versionId: '7', lastUpdated: '2026-02-01T00:00:00Z' } })).toBe(
      resourceContentHash(base),
    );
    expect(resourceContentHash({ ...base, meta: { ...base.meta, tag: [{ code: 'x' }] } })).not.toBe(
      resourceContentHash(base),
    );
    expect(resourceContentHash({ ...base, gender: 'male' })).not.toBe(resourceContentHash(base));
  });
});
