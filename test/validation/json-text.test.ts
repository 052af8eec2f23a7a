/** JSON text from users: errors say where without quoting, repeated keys are found; UTF-8 checked byte by byte. */
import { firstInvalidUtf8 } from '../../src/text-file';
import { parseJsonText, scanJson } from '../../src/validation/json-text';

test.each([
  ['{"name": [{"family": Zyxsecret}]}', 'not valid JSON: unexpected character at line 1 column 22'],
  ['{"a":1,}', 'not valid JSON: unexpected character at line 1 column 8'],
  ['{\n  "a": 1\n  "b": 2\n}', 'not valid JSON: unexpected character at line 3 column 3'],
  ['{"a":', 'not valid JSON: unexpected end of the text'],
  ['   ', 'not valid JSON: the text is empty'],
  ['{"a":1} trailing', 'not valid JSON: unexpected character at line 1 column 9'],
  ['{"a":"tab\there"}', 'not valid JSON: unexpected character at line 1 column 10'], // the tab itself
])('%j → %s, never the text itself', (text, message) => {
  const r = parseJsonText(text);
  expect(r).toEqual({ ok: false, error: message });
  // V8's own message would have quoted the start of the input.
  expect(JSON.stringify(r)).not.toContain('Zyxsecret');
});

test('repeated keys are reported with their path; the last value wins as in JSON.parse', () => {
  expect(parseJsonText('{"a":1,"b":{"c":1,"c":2},"e":[{"u":1,"u":2}],"a":3}')).toEqual({
    ok: true,
    value: { a: 3, b: { c: 2 }, e: [{ u: 2 }] },
    duplicateKeys: ['b.c', 'e[0].u', 'a'],
  });
  expect(parseJsonText('{"a":{"a":{"a":1}}}')).toMatchObject({ ok: true, duplicateKeys: [] });
});

test('a byte-order mark is not part of the JSON; deep nesting does not overflow the scan', () => {
  expect(parseJsonText('\ufeff{"resourceType":"Patient"}')).toMatchObject({
    ok: true,
    value: { resourceType: 'Patient' },
  });
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  expect(scanJson(deep).errorAt).toBe(-1);
  expect(scanJson(`${'['.repeat(100_000)}`).errorAt).toBe(100_000);
});

test.each([
  [[0x41, 0xc3, 0xa9], -1],
  [[0x41, 0xe9, 0x74], 1], // Latin-1 é
  [[0xc0, 0xaf], 0], // overlong
  [[0xed, 0xa0, 0x80], 0], // a surrogate
  [[0xf4, 0x90, 0x80, 0x80], 0], // above U+10FFFF
  [[0x41, 0xe2, 0x82], 1], // cut short
  [[0xf0, 0x9f, 0x98, 0x80, 0xff], 4],
])('first byte that is not UTF-8 in %j: %i', (bytes, offset) => {
  expect(firstInvalidUtf8(Uint8Array.from(bytes))).toBe(offset);
});
