/**
 * Reminders fhir-engage sent itself (docs/messaging.md), per channel: delivered ÷ those whose outcome is
 * known, as the provider reported. Pure.
 */
import { rate, type Figure, type ProgrammeInput, type Rate } from './programme-report';

/** Reminders fhir-engage sent itself, per channel: delivered ÷ those whose outcome is known (docs/messaging.md). */
export function deliveryRates(messages: NonNullable<ProgrammeInput['messages']>): Figure<Record<string, Rate>> {
  const by = new Map<string, { delivered: number; known: number }>();
  for (const m of messages) {
    if (!['delivered', 'undelivered', 'failed'].includes(m.state)) continue;
    const c = by.get(m.channel) ?? { delivered: 0, known: 0 };
    c.known++;
    if (m.state === 'delivered') c.delivered++;
    by.set(m.channel, c);
  }
  return {
    definition:
      'Reminders fhir-engage sent itself, by channel: delivered ÷ (delivered + undelivered + failed), as the provider reported (an email the server accepted counts as delivered).',
    value: Object.fromEntries([...by].sort().map(([channel, c]) => [channel, rate(c.delivered, c.known)])),
  };
}
