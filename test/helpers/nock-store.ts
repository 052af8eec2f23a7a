import nock from 'nock';
import type { Store } from '../../src/store/store';
import { memoryStore } from './store';

/**
 * For a test file talking to nock-mocked servers with a real store: no real
 * network, every mocked answer must be used, one in-memory store for the file.
 */
export function useNockAndStore(): { store: () => Store } {
  let store: Store;
  beforeAll(async () => {
    nock.disableNetConnect();
    store = await memoryStore();
  });
  afterAll(async () => {
    nock.enableNetConnect();
    await store.close();
  });
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect(pending).toEqual([]);
  });
  return { store: () => store };
}
