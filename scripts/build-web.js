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

async function main() {
  if (ifStale && fs.existsSync(out) && fs.statSync(out).mtimeMs >= newest(root)) return;
  let vite;
  try {
    vite = await import('vite');
  } catch {
    process.stderr.write(
      fs.existsSync(out)
        ? 'dashboard: Vite is not installed; using the existing build in web/dist\n'
        : 'dashboard: not built (Vite is not installed: run `npm install` with dev dependencies, then `npm run build:web`); the API works without it\n',
    );
    return;
  }
  await vite.build({ root, configFile: path.join(root, 'vite.config.mjs'), logLevel: 'warn' });
  process.stderr.write('dashboard: built into web/dist\n');
}

main().catch((err) => {
  process.stderr.write(`dashboard: the build failed: ${err && err.message ? err.message : err}\n`);
  process.exitCode = 1;
});
