/**
 * Building blocks of the API's response schemas. Each schema is written once, as JSON Schema (TypeBox),
 * and serves three readers: the OpenAPI document (/api/openapi.json), the TypeScript types of the
 * routes and of the dashboard (`Static<typeof X>`), and the contract test that validates every
 * response against it. Objects are closed (no property the schema does not name) unless marked open.
 */
import { Type, type TProperties, type TSchema } from '@sinclair/typebox';

/** An object with exactly these properties: a new field in a response must be described here first. */
export const Closed = <P extends TProperties>(properties: P, description?: string) =>
  Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });

/** An object whose named properties are described and whose others are passed through as stored. */
export const Open = <P extends TProperties>(properties: P, description?: string) =>
  Type.Object(properties, { additionalProperties: true, ...(description ? { description } : {}) });

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** An instant as JSON carries it: ISO 8601 with time zone. */
export const Instant = Type.String({ format: 'date-time' });

export const Counts = Type.Record(Type.String(), Type.Number());

export const Rate = Closed({
  numerator: Type.Integer({ minimum: 0 }),
  denominator: Type.Integer({ minimum: 0 }),
  rate: Nullable(Type.Number({ description: 'numerator ÷ denominator; null when the denominator is 0' })),
  tooFew: Type.Optional(
    Type.Boolean({
      description: 'fewer than 20 behind it: "too few to judge" (absent in entries recorded before it existed)',
    }),
  ),
});

/** A 95 % confidence interval (docs/indicators.md, "Programme level"). */
export const Interval = Closed({ low: Type.Number(), high: Type.Number() });

/** A programme figure: its definition in words and its value. */
export const Figure = <T extends TSchema>(value: T) => Closed({ definition: Type.String(), value });

/** An error, as FHIR says: issues with a severity, a code and a text (never patient data). */
export const OperationOutcome = Open({
  resourceType: Type.Literal('OperationOutcome'),
  issue: Type.Array(
    Open({
      severity: Type.String(),
      code: Type.String(),
      details: Type.Optional(Open({ text: Type.Optional(Type.String()) })),
      expression: Type.Optional(Type.Array(Type.String())),
      diagnostics: Type.Optional(Type.String()),
    }),
  ),
});

export const Tier = Type.Union([
  Type.Literal('engaged'),
  Type.Literal('at-risk'),
  Type.Literal('disengaged'),
  Type.Literal('unknown'),
]);
