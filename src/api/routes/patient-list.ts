/** The patient list (reachable from the tier chart): names and figures are patient data, every row is access-logged. */
import type { Patient } from '@medplum/fhirtypes';
import type { PatientIndicators } from '../../indicators/compute';
import { errors, json, q, secured, type RouteModule } from '../openapi-parts';
import { BadQuery, limitOf, query } from '../params';
import { scopeOf } from '../identity';
import { patientHeader } from '../patient-header';
import { reply } from '../reply';
import { PatientList } from '../schemas/patient-list';

const TIERS = ['engaged', 'at-risk', 'disengaged', 'unknown'];

export const patientListRoutes: RouteModule = {
  paths: {
    '/api/patients': {
      get: {
        summary:
          'Every computed patient, the least engaged first: name, age, tier, score, last contact, open Tasks, safety flag; every row is in the access log',
        security: secured,
        parameters: [
          q('tier', TIERS.join(', ')),
          q('source', 'source id'),
          q('page', 'page number (from 1)'),
          q('limit', 'rows per page (default 50, at most 500)'),
        ],
        responses: { '200': json('a page of patients', PatientList), ...errors },
      },
    },
  },
  register(api, { store, audit }) {
    api.get('/patients', audit.audited, async (req, res) => {
      const tier = query(req, 'tier');
      if (tier !== undefined && !TIERS.includes(tier)) throw new BadQuery(`tier must be one of ${TIERS.join(', ')}`);
      const pageText = query(req, 'page') ?? '1';
      if (!/^[1-9]\d{0,5}$/.test(pageText)) throw new BadQuery('page must be a whole number from 1');
      const page = Number(pageText);
      const pageSize = limitOf(req, 50, 500);
      const { total, rows } = await store.patientList({
        sourceId: scopeOf(req, res),
        ...(tier ? { tier } : {}),
        limit: pageSize,
        offset: (page - 1) * pageSize,
      });
      const now = new Date();
      const patients = rows.map((r) => {
        const ind = r.indicators as PatientIndicators;
        const header = patientHeader((r.patient ?? undefined) as Patient | undefined, [], now);
        return {
          sourceId: r.sourceId,
          patientId: r.patientId,
          name: header.name,
          age: header.age,
          tier: ind.engagement.tier,
          score: ind.engagement.score,
          lastContactDays: ind.daysSinceLastContact ?? null,
          openTasks: r.openTasks,
          safety: ind.safety?.flagged ?? false,
        };
      });
      const accessed = rows.map((r) => ({ sourceId: r.sourceId, patientId: r.patientId }));
      await audit.send(req, res, accessed, () => reply(res, PatientList, { total, page, pageSize, patients }));
    });
  },
};
