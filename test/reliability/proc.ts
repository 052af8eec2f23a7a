/** The CLI as a process of its own, and a proxy in front of the sandbox EMR that can kill it at a chosen request. */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');

export interface CliRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Called with each stderr line as it comes (progress lines name the stage). */
  onLine(fn: (line: string) => void): void;
}

export function spawnCli(args: string[], env: Record<string, string>, cwd: string): CliRun {
  // The compiled build when the suite built it (start-up ~0.5 s instead of ~2 s through tsx).
  const main = process.env.RELIABILITY_BUILT
    ? path.join(ROOT, 'dist', 'cli', 'main.js')
    : path.join(ROOT, 'bin', 'fhir-engage.js');
  const child = spawn(process.execPath, [main, ...args], {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', LOG_FORMAT: 'pretty', ...env },
  });
  let stdout = '';
  let stderr = '';
  const listeners: ((line: string) => void)[] = [];
  let partial = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    const text = d.toString();
    stderr += text;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) for (const fn of listeners) fn(l);
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done, onLine: (fn) => listeners.push(fn) };
}

export type ProxyDecision = 'forward' | 'kill-before' | 'kill-after';

/**
 * Forwards every request to `target`; `decide` may kill the client (via `kill`) before the request
 * reaches the EMR (it never arrives) or after the EMR answered (the client never hears the answer).
 */
export async function startKillProxy(
  target: string,
  decide: (req: { method: string; url: string }) => ProxyDecision,
  kill: () => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const t = new URL(target);
  let proxyOrigin = '';
  const server = http.createServer((req, res) => {
    const decision = decide({ method: req.method ?? 'GET', url: req.url ?? '/' });
    if (decision === 'kill-before') {
      kill();
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const upstream = http.request(
        {
          host: t.hostname,
          port: t.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: t.host },
        },
        (up) => {
          const body: Buffer[] = [];
          up.on('data', (c: Buffer) => body.push(c));
          up.on('end', () => {
            if (decision === 'kill-after') {
              kill();
              req.socket.destroy();
              return;
            }
            // As a reverse proxy presents one origin: links and locations naming the upstream name the proxy
            // (fhir-engage refuses URLs on another origin than its source's).
            const rewrite = (text: string): string => text.split(t.origin).join(proxyOrigin);
            const headers = Object.fromEntries(
              Object.entries(up.headers)
                .filter(([k]) => k !== 'content-length')
                .map(([k, v]) => [k, typeof v === 'string' ? rewrite(v) : v]),
            );
            res.writeHead(up.statusCode ?? 502, headers);
            res.end(Buffer.from(rewrite(Buffer.concat(body).toString('utf8'))));
          });
        },
      );
      upstream.on('error', () => req.socket.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  proxyOrigin = `http://127.0.0.1:${port}`;
  return {
    url: `${proxyOrigin}${t.pathname}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
