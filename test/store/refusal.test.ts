/** Which store failures are the data's (narrowed down to the rows) and which are a lost connection (the stage is named). */
import { isConnectionLoss, isDataRefusal, sqlState } from '../../src/store/refusal';

const pgError = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

test('a refusal of the data: SQLSTATE classes 22, 23 and 54, also as a cause', () => {
  expect(isDataRefusal(pgError('22P05', 'unsupported Unicode escape sequence'))).toBe(true);
  expect(isDataRefusal(pgError('23505'))).toBe(true);
  expect(isDataRefusal(pgError('54001'))).toBe(true);
  expect(isDataRefusal(new Error('wrapped', { cause: pgError('22021') }))).toBe(true);
  for (const code of ['57P01', '08006', '40001', '42P01', '53300']) expect(isDataRefusal(pgError(code))).toBe(false);
  expect(isDataRefusal(new Error('Connection terminated unexpectedly'))).toBe(false);
  expect(sqlState({ code: 'ECONNRESET' })).toBeUndefined();
});

test('a lost connection: class 08, 57P01–57P03, or the driver saying the socket closed, also as a cause', () => {
  expect(isConnectionLoss(pgError('57P01', 'terminating connection due to administrator command'))).toBe(true);
  expect(isConnectionLoss(pgError('08006'))).toBe(true);
  expect(isConnectionLoss(new Error('Connection terminated unexpectedly'))).toBe(true);
  expect(isConnectionLoss(new Error('store failed', { cause: pgError('57P03') }))).toBe(true);
  expect(isConnectionLoss(pgError('22P05'))).toBe(false);
  expect(isConnectionLoss(new Error('duplicate key value'))).toBe(false);
});
