/**
 * The browser tests' Chromium (Debian's package, driven by playwright-core; never a downloaded build)
 * and axe-core's WCAG 2.1 AA check. Chromium missing is a failure that says how to install it, never a
 * silent skip.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM) && process.getuid?.() === 0 && !process.env.CHROMIUM_PATH) {
    // A fresh machine: Debian's package, as .ci/run installs it.
    process.stderr.write("Chromium is missing: installing Debian's chromium package for the browser tests…\n");
    try {
      execFileSync(
        'sh',
        ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium'],
        { stdio: 'ignore', timeout: 600_000 },
      );
    } catch {
      // Reported below.
    }
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does), or set CHROMIUM_PATH. The browser tests cannot run without a browser.`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
}

/** axe-core's WCAG 2.1 AA violations on the page as it is (the context must bypass CSP to inject it). */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8') });
  return (await page.evaluate(
    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((r) => r.violations.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(' | ')))",
  )) as string[];
}
