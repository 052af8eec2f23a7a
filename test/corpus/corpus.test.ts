/**
 * Every file of the bad-input corpus answered as test/corpus/cases.json expects (see
 * test/reliability/corpus.ts for how each kind of file is handed over).
 */
import { loadCases, openCorpusContext, runCase, type CorpusContext } from '../reliability/corpus';

let ctx: CorpusContext;
beforeAll(async () => {
  ctx = await openCorpusContext();
});
afterAll(async () => {
  await ctx.close();
});

const cases = loadCases();

test('the corpus holds at least 80 inputs of every kind', () => {
  expect(cases.length).toBeGreaterThanOrEqual(80);
  expect(new Set(cases.map(([f]) => f.split('/')[0]))).toEqual(new Set(['api', 'fhir', 'mappings', 'questionnaires', 'sources']));
});

test.each(cases)('%s', async (file, c) => {
  const result = await runCase(file, c, ctx);
  expect({ file, problems: result.problems }).toEqual({ file, problems: [] });
}, 60_000);
