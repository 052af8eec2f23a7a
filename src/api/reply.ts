/** Sending a response its schema describes: the body is type-checked against the schema's type. */
import type { Static, TSchema } from '@sinclair/typebox';
import type { Response } from 'express';

/** What may be sent for a JSON type: a Date wherever a string is expected (express sends it as ISO 8601). */
export type Sendable<T> = T extends string
  ? T | Date
  : T extends readonly (infer U)[]
    ? Sendable<U>[]
    : T extends object
      ? { [K in keyof T]: Sendable<T[K]> }
      : T;

/**
 * Sends `body` as JSON with `status`. The schema is the route's documented response (its OpenAPI
 * fragment names the same one): the compiler holds the body to it, the contract test holds the
 * JSON to it.
 */
export function reply<S extends TSchema>(res: Response, _schema: S, body: Sendable<Static<S>>, status = 200): void {
  res.status(status).json(body);
}
