import nock from 'nock';

/**
 * No real network in the file's tests, and every mocked request must have been made (a test that forgot one fails).
 * After the file, nock's interceptor is taken off node:http: jest shares core modules between the files a
 * worker runs, so a left-over interceptor would sit under the next file's real requests (it held a corpus
 * case's 431 answer until the case timed out, in CI only, when that file followed a nock file in one worker).
 */
export function guardNock(): void {
  beforeAll(() => {
    if (!nock.isActive()) nock.activate();
    nock.disableNetConnect();
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending).toEqual([]);
  });
  afterAll(() => {
    nock.enableNetConnect();
    nock.restore();
  });
}
