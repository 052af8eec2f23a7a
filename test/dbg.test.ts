import { FhirClient } from '../src/fhir/client';
import { kickOff } from '../src/fhir/bulk';
import { seededSandbox } from './helpers/sandbox';
test('dbg', async () => {
  const emr = await seededSandbox({ patients: 5, seed: 5 }, { bulk: { preparationMs: 50 } });
  console.log(emr.baseUrl);
  const c = new FhirClient({ baseUrl: emr.baseUrl, auth: { type: 'none' }, maxRetries: 0 });
  const r = await fetch(`${emr.baseUrl}/$export?_type=Patient`, { headers: { prefer: 'respond-async' } });
  console.log(r.status, [...r.headers]);
  try { console.log(await kickOff(c, { level: 'system', types: ['Patient'] })); } catch (e) { console.log(e); }
  await emr.close();
});
