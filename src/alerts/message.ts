/**
 * What a safety alert says (docs/operations.md, "Safety alerts"): the minimum for the on-call person
 * to act — which source, the patient's and the Task's EMR ids, and the link to the dashboard's Safety
 * page. Never a name, a phone number, a score or an answer. Pure.
 */
import type { SafetyAlert } from '../store/safety-alerts';

export interface AlertMessage {
  event: 'safety-flag';
  alertId: number;
  sourceId: string;
  patient: string;
  task: string | null;
  /** The dashboard's Safety page (no patient id in it), when its address is configured. */
  link: string | null;
  /** 1 for the first send; more for a reminder while nobody acknowledged it. */
  send: number;
  sentAt: string;
}

export function alertMessage(alert: SafetyAlert, dashboardUrl: string | undefined, now: Date): AlertMessage {
  return {
    event: 'safety-flag',
    alertId: alert.id,
    sourceId: alert.sourceId,
    patient: `Patient/${alert.patientId}`,
    task: alert.taskServerId ? `Task/${alert.taskServerId}` : null,
    link: dashboardUrl ? `${dashboardUrl.replace(/\/+$/, '')}/#/safety` : null,
    send: alert.sends + 1,
    sentAt: now.toISOString(),
  };
}

export function alertEmail(m: AlertMessage): { subject: string; text: string } {
  const again = m.send > 1 ? ` (reminder ${m.send - 1}: not acknowledged yet)` : '';
  return {
    subject: `fhir-engage safety flag: ${m.sourceId}${again}`,
    text: [
      `A PHQ-9 item 9 safety Task is open for ${m.patient} in ${m.sourceId}${m.task ? ` (${m.task})` : ''}.`,
      'A positive item 9 needs a same-day clinical assessment.',
      m.link ? `Open the Safety page: ${m.link}` : 'Open the Safety page of the fhir-engage dashboard.',
      `Acknowledge alert ${m.alertId} there (or POST /api/safety/alerts/${m.alertId}/acknowledge), or it is sent again.`,
    ].join('\n'),
  };
}
