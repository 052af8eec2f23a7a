/**
 * The one way tests wait for something: polls `check` until it holds, or fails with a message that
 * says what was awaited and for how long (a loop that falls through would fail later on a misleading
 * assertion instead).
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 50;
  const started = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - started >= timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
