/** A readable difference between two JSON values: one line per differing path. */

function describe(v: unknown): string {
  return v === undefined ? '(absent)' : JSON.stringify(v);
}

export function jsonDiff(expected: unknown, actual: unknown, path = '', out: string[] = []): string[] {
  if (JSON.stringify(expected) === JSON.stringify(actual)) return out;
  const bothArrays = Array.isArray(expected) && Array.isArray(actual);
  const bothObjects =
    !bothArrays &&
    expected !== null &&
    actual !== null &&
    typeof expected === 'object' &&
    typeof actual === 'object' &&
    !Array.isArray(expected) &&
    !Array.isArray(actual);
  if (bothArrays) {
    const e = expected as unknown[];
    const a = actual as unknown[];
    for (let i = 0; i < Math.max(e.length, a.length); i++) jsonDiff(e[i], a[i], `${path}[${i}]`, out);
    return out;
  }
  if (bothObjects) {
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(e), ...Object.keys(a)])].sort())
      jsonDiff(e[k], a[k], path ? `${path}.${k}` : k, out);
    return out;
  }
  out.push(`${path || '(root)'}: expected ${describe(expected)}, got ${describe(actual)}`);
  return out;
}
