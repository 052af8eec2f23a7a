/**
 * Files only the service's own user may read: the embedded store (every row, the write-ahead log),
 * signing keys, a first-start API key. Directories 0700, files 0600, set at creation and checked at
 * every start. PGlite creates its files 0666 whatever the umask, so its directory is walked.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

export const OWNER_DIR_MODE = 0o700;
export const OWNER_FILE_MODE = 0o600;

/** Creates `dir` (and parents) if needed, owner-only. */
export function ensureOwnerOnlyDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: OWNER_DIR_MODE });
  chmodSync(dir, OWNER_DIR_MODE);
}

/**
 * Makes `root` and everything under it owner-only; returns the paths that were readable, writable or
 * executable by group or others before. Symbolic links are left alone (never followed out of the tree).
 */
export function restrictToOwner(root: string): string[] {
  const wider: string[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const at = stack.pop() as string;
    let stat;
    try {
      stat = lstatSync(at);
    } catch {
      continue; // removed meanwhile (a WAL segment recycled)
    }
    if (stat.isSymbolicLink()) continue;
    const want = stat.isDirectory() ? OWNER_DIR_MODE : OWNER_FILE_MODE;
    if ((stat.mode & 0o077) !== 0) wider.push(at);
    if ((stat.mode & 0o777) !== want) {
      try {
        chmodSync(at, want);
      } catch {
        // Not ours to change (another owner): reported through `wider`.
      }
    }
    if (stat.isDirectory()) for (const name of readdirSync(at)) stack.push(path.join(at, name));
  }
  return wider;
}
