#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx (no build step); a built copy in dist/
// is used only where the sources are absent (an installed package built with `npm run build`).
const path = require('node:path');
const fs = require('node:fs');
const source = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
if (fs.existsSync(source)) {
  require('tsx/cjs');
  require(source).main(process.argv);
} else {
  require(path.join(__dirname, '..', 'dist', 'cli', 'main.js')).main(process.argv);
}
