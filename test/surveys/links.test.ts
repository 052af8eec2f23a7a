import { parseLinkKeys } from '../../src/config/messaging-settings';
import {
  bindingOf,
  birthDateProof,
  birthDateProven,
  linkIdOf,
  newLinkId,
  signLink,
  verifyLink,
} from '../../src/surveys/links';

const OLD = { id: 'k1', secret: 'the-old-survey-link-secret-of-32-chars!!' };
const NEW = { id: 'k2', secret: 'the-new-survey-link-secret-of-32-chars!!' };
const row = {
  id: newLinkId(),
  sourceId: 'clinic',
  patientId: 'p1',
  taskIdentifier: 'p1/survey/phq9/2026-06-01',
  expiresAt: new Date('2026-06-08T05:00:00Z'),
};

test('a link verifies for its own binding only: another patient, Task, source or expiry fails', () => {
  const token = signLink(bindingOf(row), [OLD]);
  expect(token).toMatch(/^[A-Za-z0-9_-]{22}\.k1\.[A-Za-z0-9_-]{22}$/);
  expect(linkIdOf(token)).toBe(row.id);
  expect(verifyLink(token, bindingOf(row), [OLD])).toBe(true);
  for (const changed of [
    { patientId: 'p2' },
    { taskIdentifier: 'p1/survey/gad7/2026-06-01' },
    { sourceId: 'other' },
    { expiresAt: new Date('2026-06-09T05:00:00Z') },
  ])
    expect(verifyLink(token, bindingOf({ ...row, ...changed }), [OLD])).toBe(false);
});

test('a tampered MAC, an unknown key id or another link id fails', () => {
  const token = signLink(bindingOf(row), [OLD]);
  const [id, , mac] = token.split('.') as [string, string, string];
  expect(verifyLink(`${id}.k1.${mac.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))}`, bindingOf(row), [OLD])).toBe(
    false,
  );
  expect(verifyLink(`${id}.k3.${mac}`, bindingOf(row), [OLD])).toBe(false);
  expect(verifyLink(`${newLinkId()}.k1.${mac}`, bindingOf(row), [OLD])).toBe(false);
  expect(verifyLink(token, bindingOf(row), [NEW])).toBe(false);
  expect(linkIdOf('../../api/patients')).toBeUndefined();
});

test('rotation: with two keys the new one signs and links the old one signed still open', () => {
  const before = signLink(bindingOf(row), [OLD]);
  const after = signLink(bindingOf(row), [NEW, OLD]);
  expect(after.split('.')[1]).toBe('k2');
  expect(verifyLink(before, bindingOf(row), [NEW, OLD])).toBe(true);
  expect(verifyLink(after, bindingOf(row), [NEW, OLD])).toBe(true);
  // Once the old key is retired, its links stop working.
  expect(verifyLink(before, bindingOf(row), [NEW])).toBe(false);
});

test('the birth-date proof is bound to its link', () => {
  const proof = birthDateProof(row.id, [OLD]);
  expect(birthDateProven(proof, row.id, [NEW, OLD])).toBe(true);
  expect(birthDateProven(proof, newLinkId(), [OLD])).toBe(false);
  expect(birthDateProven(undefined, row.id, [OLD])).toBe(false);
  expect(birthDateProven('k1.forged', row.id, [OLD])).toBe(false);
});

test('keys from configuration: id:secret, at most two, in words when not usable, never echoing a secret', () => {
  expect(parseLinkKeys(`k2:${NEW.secret}, k1:${OLD.secret}`)).toEqual([NEW, OLD]);
  expect(() => parseLinkKeys('')).toThrow('no key is given');
  expect(() => parseLinkKeys('k1:short')).toThrow('key "k1" needs a secret of 32 characters or more');
  expect(() => parseLinkKeys(`K1:${OLD.secret}`)).toThrow('key 1 needs an id of 1 to 8 lower-case letters or digits');
  expect(() => parseLinkKeys(`k1:${OLD.secret},k1:${NEW.secret}`)).toThrow('different ids');
  expect(() => parseLinkKeys(`a:${OLD.secret},b:${OLD.secret},c:${OLD.secret}`)).toThrow('at most two');
  try {
    parseLinkKeys(`BAD:${OLD.secret}`);
  } catch (err) {
    expect((err as Error).message).not.toContain(OLD.secret);
  }
});
