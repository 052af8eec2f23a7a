/**
 * Every way a care manager might reach another clinic's patient (docs/operations.md, "People and
 * access"): each route, search and export, with source B named. Each must answer 404 to someone whose
 * sources are A's only; the tests of keys and of signed-in people try them all.
 */
export function outOfScopeTries(patientId: string): [method: 'GET' | 'POST', path: string, body?: object][] {
  return [
    ['GET', `/api/patients?source=B`],
    ['GET', `/api/patients/${patientId}/overview?source=B`],
    ['GET', `/api/patients/${patientId}/engagement?source=B`],
    ['GET', `/api/patients/${patientId}/indicators?source=B`],
    ['GET', `/api/sources/B/patients/${patientId}/messages`],
    ['GET', `/api/sources/B/patients/${patientId}/care-team`],
    ['POST', `/api/sources/B/patients/${patientId}/contacts`, { kind: 'note', text: 'x' }],
    ['POST', `/api/sources/B/tasks/any-task/actions`, { action: 'claim' }],
    ['GET', `/api/sources/B/care-team/writes/1`],
    ['GET', `/api/sources/B/practitioners?name=a`],
    ['GET', `/api/worklist?source=B`],
    ['GET', `/api/worklist?source=B&format=csv`],
    ['POST', `/api/worklist/search`, { source: 'B' }],
    ['GET', `/api/safety?source=B`],
    ['GET', `/api/safety/count?source=B`],
    ['GET', `/api/safety/alerts?source=B`],
    ['GET', `/api/programme?source=B`],
    ['GET', `/api/programme/report?source=B&format=csv`],
  ];
}
