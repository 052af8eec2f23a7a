/**
 * The Questionnaires fhir-engage assigns, served read-only as FHIR (docs/surveys.md, "Questionnaires"):
 * `GET /fhir/Questionnaire/{id}` and `GET /fhir/Questionnaire?url=<canonical>` (a searchset), open like
 * any published form — they hold no patient data — so that whoever finds a survey Task can resolve its
 * canonical.
 */
import express from 'express';
import type { Bundle, Questionnaire } from '@medplum/fhirtypes';
import { bareCanonical, type FormSet } from '../mapping/forms';
import { notFoundOutcome } from '../errors';

const FHIR_JSON = 'application/fhir+json';

export function questionnaireRoutes(forms: FormSet): express.Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'public, max-age=300',
    });
    next();
  });
  router.get('/Questionnaire', (req, res) => {
    const url = typeof req.query.url === 'string' ? bareCanonical(req.query.url) : undefined;
    const found = [...forms.values()].filter((q) => !url || bareCanonical(q.url) === url);
    const bundle: Bundle<Questionnaire> = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: found.length,
      entry: found.map((q) => ({
        fullUrl: `${req.protocol}://${req.get('host')}/fhir/Questionnaire/${q.id}`,
        resource: q,
        search: { mode: 'match' },
      })),
    };
    res.type(FHIR_JSON).send(JSON.stringify(bundle));
  });
  router.get('/Questionnaire/:id', (req, res) => {
    const q = [...forms.values()].find((f) => f.id === req.params.id);
    if (!q)
      return void res
        .status(404)
        .type(FHIR_JSON)
        .send(JSON.stringify(notFoundOutcome('no such Questionnaire')));
    res.type(FHIR_JSON).send(JSON.stringify(q));
  });
  return router;
}
