/**
 * The API's OpenAPI 3.1 document, served at /api/openapi.json and assembled from the route modules'
 * fragments (src/api/routes/). Every response names its schema (src/api/schemas/): a client
 * generated from this document (e.g. with openapi-typescript) knows every field.
 */
import { OperationOutcome } from './schemas/common';
import { ROUTE_MODULES } from './routes';

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'fhir-engage API', version: '1' },
  components: {
    securitySchemes: {
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      bearer: { type: 'http', scheme: 'bearer' },
    },
    schemas: { OperationOutcome },
  },
  paths: Object.fromEntries(ROUTE_MODULES.flatMap((m) => Object.entries(m.paths))) as Record<
    string,
    Record<string, unknown>
  >,
};
