/** Opens the store the configuration names: a PostgreSQL server, or PGlite by default. */
import type { Driver } from './driver';
import { openPglite } from './pglite-driver';
import { openPostgres } from './pg-driver';
import { assertSchemaCurrent, migrate } from './migrate';
import { Store } from './store';

/** Where the store is: a PostgreSQL server, or the embedded PGlite directory (the configuration's `store`). */
export interface StoreSettings {
  /** postgres://… when a server is used, otherwise undefined (PGlite). */
  databaseUrl?: string;
  schema: string;
  dataDir: string;
}

export async function openDriver(settings: StoreSettings): Promise<Driver> {
  if (settings.databaseUrl) {
    return openPostgres({ url: settings.databaseUrl, schema: settings.schema });
  }
  return openPglite({ dataDir: settings.dataDir });
}

export interface OpenStoreOptions {
  /** Apply pending migrations (default) or fail when the schema is not current. */
  migrate?: boolean;
}

export async function openStore(settings: StoreSettings, options: OpenStoreOptions = {}): Promise<Store> {
  const driver = await openDriver(settings);
  try {
    if (options.migrate ?? true) {
      await migrate(driver);
    } else {
      await assertSchemaCurrent(driver);
    }
  } catch (err) {
    await driver.close().catch(() => undefined);
    throw err;
  }
  return new Store(driver, driver);
}
