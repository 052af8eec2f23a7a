import { openPglite } from '../../src/store/pglite-driver';
import { migrate } from '../../src/store/migrate';
import { Store } from '../../src/store/store';

/** A migrated in-memory PGlite store (one per test file: opening costs about a second). */
export async function memoryStore(): Promise<Store> {
  const driver = await openPglite({});
  await migrate(driver);
  return new Store(driver, driver);
}
