import type { Store } from '../../src/store/store';
import { guardNock } from './nock-guard';
import { memoryStore } from './store';

/**
 * For a test file talking to nock-mocked servers with a real store: no real
 * network, every mocked answer must be used, one in-memory store for the file.
 */
export function useNockAndStore(): { store: () => Store } {
  let store: Store;
  guardNock();
  beforeAll(async () => {
    store = await memoryStore();
  });
  afterAll(async () => {
    await store.close();
  });
  return { store: () => store };
}
