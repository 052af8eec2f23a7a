/**
 * Every SQL statement of the store, as pure builders returning `{ text, values }` with $n
 * placeholders (values are never interpolated), each beside the methods that run it in its role's
 * module; gathered here for the unit tests (test/store/queries.test.ts) and the few types callers use.
 */
export * from './runs';
export * from './resources';
export * from './patient-data';
export * from './computations';
export * from './indicator-history';
export * from './outbox';
export * from './written';
export * from './dead-letters';
export * from './bulk-exports';
export * from './programme';
export * from './access';
export * from './retention';
export * from './approvals';
