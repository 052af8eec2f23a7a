/** Which origins a source's client may fetch, and where its token may go. */
import { isRefusedOrigin, OriginPolicy } from '../../src/fhir/origins';

const policy = new OriginPolicy('https://emr.test/fhir/r4', ['https://files.emr-storage.test/bulk']);

test('the source origin and listed origins are allowed; scheme, host and port all count', () => {
  expect(policy.isAllowed('https://emr.test/fhir/r4/Patient?_count=10')).toBe(true);
  expect(policy.isAllowed('https://files.emr-storage.test/any/path')).toBe(true);
  for (const refused of [
    'http://emr.test/fhir/r4/Patient',
    'https://emr.test:8443/fhir/r4/Patient',
    'https://emr.test.evil.example/fhir/r4',
    'https://evil.example/?u=https://emr.test',
    'not a url',
  ])
    expect(policy.isAllowed(refused)).toBe(false);
});

test('a refusal names the origin and the setting, redacts the query, and is recognised as a refusal', () => {
  let caught: unknown;
  try {
    policy.check('https://evil.example/next?patient=123&token=abc');
  } catch (err) {
    caught = err;
  }
  expect(isRefusedOrigin(caught)).toBe(true);
  const text = (caught as Error).message;
  expect(text).toContain("its origin https://evil.example is not the source's (https://emr.test)");
  expect(text).toContain('allowedOrigins');
  expect(text).not.toContain('patient=123');
  expect(isRefusedOrigin(new Error('other'))).toBe(false);
});

test('the token goes to the source origin, and to a listed origin only when the resource requires it', () => {
  expect(policy.mayCarryToken('https://emr.test/fhir/r4/$export-file/1', false)).toBe(true);
  expect(policy.mayCarryToken('https://files.emr-storage.test/f1.ndjson', false)).toBe(false);
  expect(policy.mayCarryToken('https://files.emr-storage.test/f1.ndjson', true)).toBe(true);
  expect(policy.mayCarryToken('https://evil.example/f1.ndjson', true)).toBe(false);
});
