/**
 * Safety flags, first in the navigation (docs/indicators.md, "Safety"): every patient with an open
 * PHQ-9 item 9 safety Task, a positive item 9 or a severe PHQ-9, the longest waiting first, with what
 * the care team needs to call them. Opening a patient keeps their id out of the address bar.
 */
import { get, post } from '../api';
import type { SafetyAlerts, SafetyCount, SafetyList } from '../../../src/api/schemas/safety';
import { h, table, when } from '../dom';
import { openPatient } from './patient';

/** The navigation's badge: how many patients have a safety flag (no patient data). */
export async function refreshSafetyBadge(): Promise<void> {
  const badge = document.getElementById('safety-count');
  if (!badge) return;
  const { count } = await get<SafetyCount>('/safety/count');
  badge.textContent = String(count);
  badge.hidden = count === 0;
  badge.setAttribute('aria-label', `${count} patient(s) with a safety flag`);
}

/** Alerts sent and not yet acknowledged: acknowledging stops the re-sends (every channel of the Task). */
function alertsTable(alerts: SafetyAlerts['alerts'], main: HTMLElement): HTMLElement {
  if (alerts.length === 0)
    return h('p', { 'data-testid': 'alerts-none' }, 'No safety alert waits for acknowledgement.');
  return table(
    'Alerts not yet acknowledged',
    ['patient (EMR id)', 'channel', 'sent', 'last sent', 'last error', ''],
    alerts.map((a) => [
      `${a.patientId} (${a.sourceId})`,
      a.channel,
      a.sends,
      a.lastSentAt ? when(a.lastSentAt) : 'not yet',
      a.lastError ?? '',
      h(
        'button',
        {
          type: 'button',
          'aria-label': `Acknowledge the ${a.channel} alert for ${a.patientId}`,
          onclick: async () => {
            await post(`/safety/alerts/${a.id}/acknowledge`);
            await safetyView(main);
          },
        },
        'Acknowledge',
      ),
    ]),
    { 'data-testid': 'alerts' },
  );
}

export async function safetyView(main: HTMLElement): Promise<void> {
  const [{ patients }, { alerts }] = await Promise.all([
    get<SafetyList>('/safety'),
    get<SafetyAlerts>('/safety/alerts?open=true'),
  ]);
  main.replaceChildren(
    h('h1', {}, 'Safety flags'),
    h(
      'p',
      {},
      'Patients with an open PHQ-9 item 9 safety Task in the EMR, a positive item 9 or a severe PHQ-9 (20 or more) on their latest PHQ-9. Act on these first: a positive item 9 needs a same-day clinical assessment.',
    ),
    patients.length === 0
      ? h('p', { 'data-testid': 'safety-none' }, 'No patient has a safety flag.')
      : table(
          'Patients with a safety flag',
          ['patient', 'age', 'phone', 'why', 'waiting since', 'tier', ''],
          patients.map((p) => [
            p.name ?? p.patientId,
            p.age ?? '',
            p.phone ?? 'none on file',
            p.reasons.join('; '),
            p.since ? when(p.since) : '',
            p.tier ?? '',
            h(
              'button',
              {
                type: 'button',
                onclick: () => openPatient(p.patientId, p.sourceId),
                'aria-label': `Open ${p.name ?? p.patientId}`,
              },
              'Open',
            ),
          ]),
          { 'data-testid': 'safety-list' },
        ),
    h('h2', {}, 'Alerts'),
    alertsTable(alerts, main),
  );
}
