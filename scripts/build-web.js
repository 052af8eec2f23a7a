#!/usr/bin/env node
// Builds the dashboard (web/ → web/dist) with Vite. With --if-stale (npm start), nothing is done
// when web/dist is newer than every source file; without Vite installed (a production install
// with --omit=dev) an existing build is used as it is, and a missing one is reported, not fatal.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', 'web');
const out = path.join(root, 'dist', 'index.html');
const ifStale = process.argv.includes('--if-stale');

function newest(dir) {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'dist' || e.name === 'node_modules') continue;
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return t;
}

/**
 * A line on stderr in the CLI's format (src/cli/log-format.ts), since `npm start` runs this first on the
 * same stream: a JSON record when stderr is not a terminal, unless LOG_FORMAT=pretty.
 */
function say(msg, level = 30) {
  const json = (process.env.LOG_FORMAT || (process.stderr.isTTY ? 'pretty' : 'json')) === 'json';
  const record = { level, time: new Date().toISOString(), service: 'fhir-engage', event: 'build-web', msg };
  process.stderr.write(`${json ? JSON.stringify(record) : msg}\n`);
}

async function main() {
  if (ifStale && fs.existsSync(out) && fs.statSync(out).mtimeMs >= newest(root)) return;
  let vite;
  try {
    vite = await import('vite');
  } catch {
    say(
      fs.existsSync(out)
        ? 'dashboard: Vite is not installed; using the existing build in web/dist'
        : 'dashboard: not built (Vite is not installed: run `npm install` with dev dependencies, then `npm run build:web`); the API works without it',
      40,
    );
    return;
  }
  await vite.build({ root, configFile: path.join(root, 'vite.config.mjs'), logLevel: 'warn' });
  say('dashboard: built into web/dist');
}

main().catch((err) => {
  say(`dashboard: the build failed: ${err && err.message ? err.message : err}`, 50);
  process.exitCode = 1;
});
