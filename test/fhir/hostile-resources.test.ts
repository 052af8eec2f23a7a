/**
 * A resource the stores cannot hold (a NUL, an unpaired surrogate, nesting 500 deep) costs that
 * resource only: it is a dead letter naming its element, the rest of its page is stored, the
 * checkpoint and watermark move, and the next run succeeds. On both store drivers.
 */
import nock from 'nock';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { pullSource } from '../../src/fhir/pull';
import { createSourceClient, newTransportStats } from '../../src/fhir/source-client';
import type { Store } from '../../src/store/store';
import type { ResourceValidator } from '../../src/validation/validator';
import { sharedValidator } from '../../src/validation/validator';
import { findUnsafeValues, MAX_JSON_DEPTH, storableCopy } from '../../src/validation/json-safety';
import { driverFactories, useMigratedStore } from '../helpers/drivers';
import { guardNock } from '../helpers/nock-guard';
import { testSource } from '../helpers/source';

guardNock();
const BASE = 'https://ehr.test/r4';

const patient = (id: string, extra: Record<string, unknown> = {}): Resource =>
  ({
    resourceType: 'Patient',
    id,
    meta: { versionId: '1', lastUpdated: '2026-05-01T10:00:00Z' },
    name: [{ family: 'Quillfeather', given: ['Zel'] }],
    ...extra,
  }) as Resource;

function deepExtension(levels: number): Record<string, unknown> {
  let ext: Record<string, unknown> = { url: 'https://ehr.test/leaf', valueString: 'x' };
  for (let i = 0; i < levels; i++) ext = { url: 'https://ehr.test/nest', extension: [ext] };
  return ext;
}

function page(entries: Resource[]): Bundle {
  return { resourceType: 'Bundle', type: 'searchset', entry: entries.map((resource) => ({ resource })), link: [] };
}

function pull(store: Store, id: string, validator: ResourceValidator = sharedValidator()) {
  const source = testSource({ id, baseUrl: BASE, resourceTypes: ['Patient'] });
  const stats = newTransportStats();
  return pullSource({
    source,
    store,
    client: createSourceClient(source, stats),
    validator,
    runId: `run-${id}`,
    transportStats: stats,
  });
}

describe('the unsafe-value check (pure)', () => {
  test.each([
    ['a NUL in a value', { name: [{ given: ['a\u0000b'] }] }, 'Patient.name[0].given[0]'],
    ['a lone high surrogate', { name: [{ family: 'x\ud800' }] }, 'Patient.name[0].family'],
    ['a lone low surrogate', { name: [{ family: '\udc00y' }] }, 'Patient.name[0].family'],
    ['a vertical tab', { gender: 'male\u000b' }, 'Patient.gender'],
    ['a control character in a key', { ['na\u0001me']: [] }, 'Patient.na\uFFFDme'],
  ])('%s is found with its element path', (_name, resource, expression) => {
    expect(findUnsafeValues('Patient', resource)).toEqual([{ kind: 'character', expression }]);
  });

  test('tab, CR, LF and paired surrogates (emoji) are fine', () => {
    expect(findUnsafeValues('Patient', { text: { div: '<div>a\tb\r\nc 😀</div>' } })).toEqual([]);
  });

  test(`nesting past ${MAX_JSON_DEPTH} JSON levels is found, however deep, without recursion`, () => {
    const found = findUnsafeValues('Patient', { extension: [deepExtension(50_000)] });
    expect(found).toHaveLength(1);
    expect(found[0]?.kind).toBe('depth');
    expect(found[0]?.expression).toMatch(/^Patient\.extension\[0\]\.extension\[0\].*more\)…/);
    expect(findUnsafeValues('Patient', { extension: [deepExtension(40)] })).toEqual([]);
  });

  test('storableCopy replaces the characters and cuts the depth; a safe value is returned as it is', () => {
    const safe = { a: ['b'] };
    expect(storableCopy(safe)).toBe(safe);
    const copy = storableCopy({ a: 'x\u0000y', deep: deepExtension(500) });
    expect(copy.a).toBe('x\uFFFDy');
    expect(findUnsafeValues('X', copy)).toEqual([]);
    expect(JSON.stringify(copy)).toContain('nested deeper than');
  });
});

describe.each(driverFactories())('a hostile resource in a page on $name', (factory) => {
  let store: Store;
  useMigratedStore(factory, (_d, s) => {
    store = s;
  });

  test.each([
    ['a NUL', patient('bad', { name: [{ family: 'Quill\u0000feather' }] }), 'Patient.name[0].family', 'forbids'],
    [
      'a lone surrogate',
      patient('bad', { name: [{ given: ['Zel', 'Z\ud800'] }] }),
      'Patient.name[0].given[1]',
      'forbids',
    ],
    [
      'extensions nested 500 deep',
      patient('bad', { extension: [deepExtension(500)] }),
      'Patient.extension[0]',
      `deeper than ${MAX_JSON_DEPTH}`,
    ],
  ])(
    '%s: the good resources are stored, the bad one is a dead letter naming its path, the watermark moves, the next run succeeds',
    async (name, bad, path, text) => {
      const id = `s${name.replace(/\W/g, '')}`;
      nock(BASE)
        .get('/Patient')
        .query(true)
        .reply(200, page([patient('good1'), bad, patient('good2')]));
      const report = await pull(store, id);
      expect(report.types[0]).toMatchObject({ status: 'ok', new: 2, deadLettered: 1 });
      expect(Object.keys(await store.countResources(id))).toEqual(['Patient']);
      expect((await store.countResources(id)).Patient).toBe(2);
      const [letter] = await store.listDeadLetters({ sourceId: id });
      expect(letter).toMatchObject({ resourceType: 'Patient', resourceId: 'bad', stage: 'validate' });
      const issue = letter?.outcome.issue[0];
      expect(issue?.expression?.[0]?.startsWith(path)).toBe(true);
      expect(issue?.details?.text).toContain(text);
      expect(await store.getWatermark(id, 'Patient')).toEqual(new Date('2026-05-01T10:00:00Z'));

      nock(BASE)
        .get('/Patient')
        .query(true)
        .reply(200, page([patient('good1'), bad, patient('good2')]));
      const again = await pull(store, id);
      expect(again.types[0]).toMatchObject({ status: 'ok', new: 0, deadLettered: 0 });
      expect(await store.countDeadLetters({ sourceId: id })).toBe(1);
    },
  );

  test('a resource the store refuses for any reason the validator missed costs only itself: the batch is narrowed down', async () => {
    // A validator that lets everything through: the store itself refuses the NUL (SQLSTATE 22P05).
    const lenient = { validate: () => ({ valid: true }) } as unknown as ResourceValidator;
    const resources = Array.from({ length: 9 }, (_, i) => patient(`p${i}`));
    resources[5] = patient('p5', { name: [{ family: 'Quill\u0000feather' }] });
    nock(BASE).get('/Patient').query(true).reply(200, page(resources));
    const report = await pull(store, 'narrow', lenient);
    expect(report.types[0]).toMatchObject({ status: 'ok', new: 8, deadLettered: 1 });
    expect((await store.countResources('narrow')).Patient).toBe(8);
    expect(await store.getResource('narrow', 'Patient', 'p5')).toBeUndefined();
    const [letter] = await store.listDeadLetters({ sourceId: 'narrow' });
    expect(letter).toMatchObject({ resourceId: 'p5', stage: 'pull' });
    expect(letter?.outcome.issue[0]?.details?.text).toMatch(
      /^Patient\/p5 was refused by the store \(SQLSTATE 22\w{3}\)/,
    );
    // What the dead letter keeps is the resource with the character replaced, so a person can see it.
    expect(JSON.stringify(letter?.payload)).toContain('Quill\uFFFDfeather');
    expect(await store.getWatermark('narrow', 'Patient')).toEqual(new Date('2026-05-01T10:00:00Z'));
  });
});
