import nock from 'nock';

/** No real network in the file's tests, and every mocked request must have been made (a test that forgot one fails). */
export function guardNock(): void {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending).toEqual([]);
  });
  afterAll(() => nock.enableNetConnect());
}
