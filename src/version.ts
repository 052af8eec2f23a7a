import { readFileSync } from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/** The package version (also the Provenance agent's version). */
export function version(): string {
  if (!cached) {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    cached = pkg.version;
  }
  return cached;
}
