/** Pieces of the OpenAPI document that route modules use in their fragments (src/api/routes/*.ts). */
import type { TSchema } from '@sinclair/typebox';
import type { Router } from 'express';
import type { AppConfig } from '../config/types';
import type { Store } from '../store/store';
import type { SyncRunner } from '../sync/runner';
import type { AccessAudit } from './access-audit';
import type { Metrics } from './metrics';

export const outcomeRef = { $ref: '#/components/schemas/OperationOutcome' };

/** A JSON response described by its schema. */
export const json = (description: string, schema: TSchema | object = outcomeRef) => ({
  description,
  content: { 'application/json': { schema } },
});

/** The answers every secured route may give besides its own. */
export const errors = {
  '400': json('a bad parameter or body (named in the outcome)'),
  '401': json('API key missing or wrong'),
  '404': json('not found'),
};

export const secured = [{ apiKey: [] }, { bearer: [] }];

export const q = (name: string, description: string) => ({
  name,
  in: 'query',
  required: false,
  schema: { type: 'string' },
  description,
});

export const p = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

/** A JSON request body. */
export const body = (description: string, schema: object) => ({
  required: true,
  content: { 'application/json': { schema } },
  description,
});

/** What every route module is given. */
export interface RouteContext {
  store: Store;
  config: AppConfig;
  runner: SyncRunner;
  metrics: Metrics;
  audit: AccessAudit;
  /** The OpenAPI document, as served at /api/openapi.json. */
  document: object;
}

/** One resource of the API: its paths (OpenAPI path items) and how they are served. */
export interface RouteModule {
  paths: Record<string, Record<string, unknown>>;
  /** Served without an API key (health, readiness, metrics, this document); registered before the key check. */
  open?: boolean;
  register(api: Router, ctx: RouteContext): void;
}
