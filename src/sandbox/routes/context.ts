/** What the sandbox's route modules share: its state, its addresses, and how it answers in FHIR. */
import { badRequest } from '@medplum/core';
import type { FhirRouter } from '@medplum/fhir-router';
import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import type express from 'express';
import type { AuthState } from '../auth';
import type { BulkExports } from '../bulk-export';
import type { QuirkState } from '../quirks';
import type { SandboxRepository } from '../repository';

export const FHIR_BASE_PATH = '/fhir/R4';

/** Where a search with opaque next links (quirk `opaqueNextLinks`) goes on. */
export interface PageState {
  type: string;
  query: string;
  cursor: string;
  count: number;
}

export class SandboxContext {
  /** `http://host:port`, known once the server listens. */
  origin = '';
  readonly opaquePages = new Map<string, PageState>();

  constructor(
    readonly repo: SandboxRepository,
    readonly router: FhirRouter,
    readonly quirks: QuirkState,
    readonly auth: AuthState,
    readonly bulkExports: BulkExports,
  ) {}

  base(): string {
    return `${this.origin}${FHIR_BASE_PATH}`;
  }

  tokenUrl(): string {
    return `${this.origin}/oauth2/token`;
  }

  /** The resource types this server offers now (quirk `notOfferedTypes` takes some away). */
  servedTypes(available: readonly string[]): string[] {
    return available.filter((t) => !this.quirks.quirks.notOfferedTypes?.includes(t));
  }
}

/** One group of the sandbox's routes, registered in routes/index.ts in order. */
export interface SandboxRoutes {
  register(app: express.Express, ctx: SandboxContext): void;
}

/** An outcome with a text of ours, for the statuses Medplum's constructors carry only a fixed text for. */
export function withText(base: OperationOutcome, text: string): OperationOutcome {
  return { ...base, issue: base.issue.map((i) => ({ ...i, details: { text } })) };
}

/** A 400 (Medplum's badRequest) with a more precise issue code, as real servers send. */
export function badRequestAs(code: OperationOutcome['issue'][0]['code'], text: string): OperationOutcome {
  const base = badRequest(text);
  return { ...base, issue: base.issue.map((i) => ({ ...i, code })) };
}

export function sendFhir(res: Response, status: number, body: Resource): void {
  res.status(status).type('application/fhir+json').send(JSON.stringify(body));
}

/** Query parameters in order, repeated ones kept (express' parsed req.query loses the order). */
export function queryParams(req: Request): URLSearchParams {
  const q = req.originalUrl.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : req.originalUrl.slice(q + 1));
}
