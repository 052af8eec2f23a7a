/**
 * The alert stage of a run (docs/operations.md, "Safety alerts"): for every open safety Task that
 * reached the EMR, one alert per configured channel is stored (the intent) before its channel is
 * called; a failure is retried with back-off at the next runs; a sent alert nobody acknowledged is
 * sent again after `resendAfterMinutes`; a Task a person ended resolves its alerts.
 */
import type { SafetyAlertSettings } from '../config/alert-settings';
import { alertChannels } from '../config/alert-settings';
import { describeError } from '../errors';
import { logger } from '../log/logger';
import type { Store } from '../store/store';
import { alertSender, type AlertSender } from './channels';
import { alertMessage } from './message';

export interface AlertCounts {
  created: number;
  sent: number;
  failed: number;
  resolved: number;
}

const MINUTE_MS = 60_000;
const MAX_BACKOFF_MS = 60 * MINUTE_MS;

/** Minutes before the next try after `attempts` failures: 1, 2, 4, … up to an hour. */
export const alertBackoffMs = (attempts: number): number => Math.min(MAX_BACKOFF_MS, MINUTE_MS * 2 ** attempts);

export async function deliverSafetyAlerts(
  store: Store,
  settings: SafetyAlertSettings | undefined,
  sourceId: string,
  now: Date,
  sender: (s: SafetyAlertSettings) => AlertSender = alertSender,
): Promise<AlertCounts | undefined> {
  const channels = alertChannels(settings);
  if (!settings || channels.length === 0) return undefined;
  const counts: AlertCounts = { created: 0, sent: 0, failed: 0, resolved: 0 };
  counts.resolved = await store.resolveEndedAlerts(sourceId);
  counts.created = await store.createAlertIntents(sourceId, channels, now);
  const resendMs = settings.resendAfterMinutes > 0 ? settings.resendAfterMinutes * MINUTE_MS : null;
  const due = await store.dueAlerts(sourceId, now, resendMs);
  if (due.length === 0) return counts;
  const send = sender(settings);
  try {
    for (const alert of due) {
      try {
        await send[alert.channel](alertMessage(alert, settings.dashboardUrl, now));
        await store.markAlertSent(alert.id, now);
        counts.sent++;
      } catch (err) {
        const why = describeError(err);
        await store.markAlertFailed(alert.id, why, new Date(now.getTime() + alertBackoffMs(alert.attempts)));
        counts.failed++;
        logger().warn(
          { event: 'safety-alert-failed', sourceId, alertId: alert.id, channel: alert.channel, error: why },
          'a safety alert could not be delivered; it is retried at the next run',
        );
      }
    }
  } finally {
    send.close();
  }
  return counts;
}
