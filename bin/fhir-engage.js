#!/usr/bin/env node
// Runs the TypeScript sources directly (no build step needed); a built copy in dist/ is preferred when present.
const path = require('node:path');
const fs = require('node:fs');
const built = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (fs.existsSync(built)) {
  require(built).main(process.argv);
} else {
  require('tsx/cjs');
  require('../src/cli/main.ts').main(process.argv);
}
