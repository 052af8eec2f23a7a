/**
 * Supply chain, offline-friendly: the runtime dependency tree as the lockfile pins it, each package's
 * licence (copyleft licences flagged), and `npm audit` when the registry answers — "not checked" when
 * it does not, rather than a failure of the whole suite. Install scripts: every package of the lockfile
 * that has one must be named in package.json's allowScripts (npm 11), so that a new dependency's
 * script is decided on, not run unseen.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './proc';

export interface SupplyChainResult {
  packages: { name: string; version: string; license: string }[];
  copyleft: string[];
  lockfileVersion: number | undefined;
  audit: { checked: false; reason: string } | { checked: true; vulnerabilities: Record<string, number> };
  /** Packages with an install script, and what allowScripts says of each (undefined: nothing). */
  installScripts: { name: string; version: string; allowed: boolean | undefined }[];
}

function installScripts(): SupplyChainResult['installScripts'] {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; hasInstallScript?: boolean }>;
  };
  const allow =
    (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> })
      .allowScripts ?? {};
  return Object.entries(lock.packages)
    .filter(([p, meta]) => p.startsWith('node_modules/') && meta.hasInstallScript)
    .map(([p, meta]) => {
      const name = p.replace(/^.*node_modules\//, '');
      const version = meta.version ?? '?';
      return { name, version, allowed: allow[`${name}@${version}`] ?? allow[name] };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Runtime packages (not devDependencies) from the lockfile, with the licence each declares. */
function runtimePackages(): SupplyChainResult['packages'] {
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<
      string,
      { version?: string; license?: string; dev?: boolean; devOptional?: boolean; optional?: boolean }
    >;
  };
  return (
    Object.entries(lock.packages)
      // Optional packages for other platforms (esbuild's binaries) are pinned but never installed here.
      .filter(
        ([p, meta]) =>
          p.startsWith('node_modules/') &&
          !meta.dev &&
          !meta.devOptional &&
          (!meta.optional || existsSync(path.join(ROOT, p, 'package.json'))),
      )
      .map(([p, meta]) => {
        const name = p.replace(/^.*node_modules\//, '');
        let license = meta.license;
        const manifest = path.join(ROOT, p, 'package.json');
        if (!license && existsSync(manifest))
          license = (JSON.parse(readFileSync(manifest, 'utf8')) as { license?: string }).license;
        return { name, version: meta.version ?? '?', license: license ?? 'UNKNOWN' };
      })
      .sort((a, b) => a.name.localeCompare(b.name))
  );
}

export async function supplyChain(): Promise<SupplyChainResult> {
  const packages = runtimePackages();
  const copyleft = packages
    .filter((p) => /\b(A?GPL|LGPL|SSPL|EUPL)/i.test(p.license) && !/\bOR\b/i.test(p.license))
    .map((p) => `${p.name}@${p.version} (${p.license})`);
  const lockfileVersion = (
    JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { lockfileVersion?: number }
  ).lockfileVersion;
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const audit = await run(npm, ['audit', '--omit=dev', '--json'], 60_000);
  let result: SupplyChainResult['audit'];
  try {
    const parsed = JSON.parse(audit.stdout) as {
      metadata?: { vulnerabilities?: Record<string, number> };
      error?: { summary?: string; code?: string };
      message?: string;
    };
    const why =
      parsed.error?.summary ||
      parsed.error?.code ||
      parsed.message ||
      audit.stderr.split('\n').find((l) => l.trim()) ||
      'the registry gave no audit report';
    result = parsed.metadata?.vulnerabilities
      ? { checked: true, vulnerabilities: parsed.metadata.vulnerabilities }
      : { checked: false, reason: why.split('\n')[0]!.slice(0, 200) };
  } catch {
    result = {
      checked: false,
      reason: (audit.stderr.split('\n').find((l) => l.trim()) ?? 'npm audit did not answer').slice(0, 200),
    };
  }
  return { packages, copyleft, lockfileVersion, audit: result, installScripts: installScripts() };
}
