/** The sandbox EMR's routes, registered in this order (the FHIR module ends with the error handler). */
import type { SandboxRoutes } from './context';
import { fhirRoutes } from './fhir';
import { oauthRoutes } from './oauth';

export const SANDBOX_ROUTES: readonly SandboxRoutes[] = [oauthRoutes, fhirRoutes];
