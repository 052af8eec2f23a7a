import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { canonicalJson, contentHash, resourceContentHash } from '../../src/store/content-hash';

// Hashes are stored with every resource: a faster canonical form must print exactly what earlier versions
// printed, or an upgrade would count every stored resource as changed. The values below were computed
// by the first implementation.
describe('content hash', () => {
  it('equals the hash stored by earlier versions for a Synthea patient', () => {
    const file = path.join(
      __dirname,
      '..',
      '..',
      'fixtures',
      'synthea',
      'Antonio_Castellanos_6d2eba67-5b4a-403f-a29f-e6da3f1ea963.json',
    );
    const bundle = JSON.parse(readFileSync(file, 'utf8')) as Bundle;
    const patient = bundle.entry?.[0]?.resource as Resource;
    expect(resourceContentHash(patient)).toBe('5e06ac2ccb2b309b1c4fda712cafdd80246b0a916ac2996ef3e01795c9c73699');
  });

  it('sorts keys as strings, drops undefined members and escapes unusual keys the same way as before', () => {
    const odd = { b: 1, a: [undefined, { '10': 1, '2': 2, 'x y': '\u2028"', z: undefined }], d: new Date(0), é: null };
    expect(canonicalJson(odd)).toBe('{"a":[null,{"10":1,"2":2,"x y":"\u2028\\""}],"b":1,"d":{},"é":null}');
    expect(contentHash({ b: 1, a: [null, { '10': 1, '2': 2, 'x y': '\u2028"' }], d: new Date(0), é: null })).toBe(
      '363d623f9403d2e029a7ea62a620adb21009f309a6f0e2eb67e2118ea33ed56e',
    );
  });

  it('ignores key order, meta.versionId and meta.lastUpdated, but not the rest of meta', () => {
    const a = {
      resourceType: 'Patient',
      id: 'p',
      meta: { versionId: '1', lastUpdated: '2026-01-01T00:00:00Z' },
      gender: 'female',
      active: true,
    };
    const b = {
      active: true,
      gender: 'female',
      id: 'p',
      resourceType: 'Patient',
      meta: { versionId: '7', lastUpdated: '2026-02-01T00:00:00Z' },
    };
    expect(resourceContentHash(a)).toBe(resourceContentHash(b));
    expect(resourceContentHash({ ...a, meta: { ...a.meta, source: 'x' } })).not.toBe(resourceContentHash(a));
  });
});
