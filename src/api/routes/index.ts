/**
 * Every resource of the API, registered in this one place (as src/cli/commands are): a new route
 * goes in a module of its own here, with its OpenAPI fragment and its response schema
 * (src/api/schemas/). The document and the router are both built from this list.
 */
import type { RouteModule } from '../openapi-parts';
import { accessLogRoutes } from './access-log';
import { careTeamRoutes } from './care-team';
import { deadLetterRoutes } from './dead-letters';
import { healthRoutes } from './health';
import { patientRoutes } from './patients';
import { patientListRoutes } from './patient-list';
import { programmeRoutes } from './programme';
import { runRoutes } from './runs';
import { safetyRoutes } from './safety';
import { worklistRoutes } from './worklist';
import { sourceRoutes } from './sources';
import { keyRoutes, signInRoutes } from './keys';

export const ROUTE_MODULES: readonly RouteModule[] = [
  healthRoutes,
  signInRoutes,
  sourceRoutes,
  safetyRoutes,
  worklistRoutes,
  careTeamRoutes,
  runRoutes,
  patientRoutes,
  patientListRoutes,
  programmeRoutes,
  accessLogRoutes,
  keyRoutes,
  deadLetterRoutes,
];
