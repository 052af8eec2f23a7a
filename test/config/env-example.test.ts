import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ENV_VARS } from '../../src/config/env';

const root = path.join(__dirname, '..', '..');

describe('.env.example', () => {
  const text = readFileSync(path.join(root, '.env.example'), 'utf8');
  const documented = [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);

  test('documents every environment variable the code reads, and no other', () => {
    expect([...documented].sort()).toEqual(Object.keys(ENV_VARS).sort());
  });

  test('no variable in src/ is read from process.env without being documented', () => {
    const used = execSync(`grep -rhoE "process\\.env\\.[A-Z_0-9]+|envValue\\(env, '[A-Z_0-9]+'\\)" src`, { cwd: root })
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((s) => s.replace(/^process\.env\./, '').replace(/^envValue\(env, '([A-Z_0-9]+)'\)$/, '$1'));
    for (const name of new Set(used)) {
      expect(Object.keys(ENV_VARS)).toContain(name);
    }
  });
});
