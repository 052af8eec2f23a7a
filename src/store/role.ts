/** What a role's methods work with: the connection (or transaction) and the store they are part of. */
import type { Db } from './driver';
import type { Store } from './store';

export interface RoleContext {
  db: Db;
  /** For what another role does (a transaction, a method of another role). */
  store: Store;
}
