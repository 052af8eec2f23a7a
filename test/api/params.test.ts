/** The API's parameter readers: every bad value is a 400 naming the parameter, never echoing the value. */
import type { Request } from 'express';
import { BadQuery, deadLetterId, instant, limitOf, period } from '../../src/api/params';

const req = (query: Record<string, string>, params: Record<string, string> = {}): Request =>
  ({ query, params }) as unknown as Request;

test('instant: ISO dates and instants from year 1 to 9999; anything else names the parameter', () => {
  expect(instant(req({ from: '2026-06-01' }), 'from')?.toISOString()).toBe('2026-06-01T00:00:00.000Z');
  expect(instant(req({}), 'from')).toBeUndefined();
  expect(() => instant(req({ from: 'yesterday<script>' }), 'from')).toThrow(
    new BadQuery('from must be an ISO date or instant'),
  );
  expect(() => instant(req({ to: '+010000-01-01' }), 'to')).toThrow('to must be a date from year 1 to 9999');
});

test('period: the 30 days before `to` by default; `from` must come first', () => {
  const p = period(req({ to: '2026-06-30T00:00:00Z' }));
  expect(p.start.toISOString()).toBe('2026-05-31T00:00:00.000Z');
  expect(() => period(req({ from: '2026-06-30', to: '2026-06-01' }))).toThrow('from must be before to');
});

test('limit: a whole number in range, else a 400 (never silently the default)', () => {
  expect(limitOf(req({}), 50, 500)).toBe(50);
  expect(limitOf(req({ limit: '500' }), 50, 500)).toBe(500);
  for (const bad of ['0', '501', '-1', '1.5', 'ten'])
    expect(() => limitOf(req({ limit: bad }), 50, 500)).toThrow('limit must be a whole number from 1 to 500');
});

test('a dead letter id is a positive whole number', () => {
  expect(deadLetterId(req({}, { id: '42' }))).toBe(42);
  for (const bad of ['0', '-3', '1e3', '99999999999999999'])
    expect(() => deadLetterId(req({}, { id: bad }))).toThrow('the dead letter id must be a positive integer');
});
