import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process, as a user or a script would. */
export function runCliProcess(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): CliResult {
  const res = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'fhir-engage.js'), ...args], {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'silent', LOG_FORMAT: 'pretty', ...options.env },
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Like runCliProcess, without blocking the event loop (for tests whose sandbox runs in this process). */
export function runCliProcessAsync(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'fhir-engage.js'), ...args], {
      cwd: options.cwd ?? ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LOG_LEVEL: 'silent',
        LOG_FORMAT: 'pretty',
        ...options.env,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}
