import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { ensureOwnerOnlyDir } from '../../owner-only';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { configError, ExitCode } from '../../errors';
import { generateSigningKey, publishedKeys, type KeyAlgorithm } from '../../fhir/keys';
import type { CliIo } from '../io';

/** `fhir-engage keys generate|jwks`: SMART Backend Services keys and the JWKS to register. */
export function registerKeysCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const keys = program
    .command('keys')
    .description('SMART Backend Services signing keys (RS384/ES384) and their public JWKS');
  keys
    .command('generate')
    .description(
      'make a key pair: the private key goes to a file only you can read (mode 0600), the public JWKS is printed (register it, or the JWKS URL /.well-known/jwks.json)',
    )
    .requiredOption('--kid <kid>', 'key id sent in the JWT header (e.g. fhir-engage-2026-11)')
    .option('--alg <alg>', 'RS384 or ES384', 'RS384')
    .option('--out <file>', 'private key file (default: <FHIR_ENGAGE_KEYS_DIR or ./keys>/<kid>.pem)')
    .action(async (opts: { kid: string; alg: string; out?: string }) => {
      if (opts.alg !== 'RS384' && opts.alg !== 'ES384') throw configError('--alg must be RS384 or ES384', ['--alg']);
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(opts.kid))
        throw configError('--kid must be 1 to 64 letters, digits, dots, dashes or underscores', ['--kid']);
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      const file = path.resolve(opts.out ?? path.join(config.keysDir, `${opts.kid}.pem`));
      if (existsSync(file))
        throw configError(`${file} exists already: keys are never overwritten (choose another --kid or --out)`, [
          '--out',
        ]);
      const { privatePem, publicJwk } = await generateSigningKey(opts.alg as KeyAlgorithm, opts.kid);
      // The keys directory is made owner-only; a directory named by --out is only created, never changed.
      if (path.dirname(file) === path.resolve(config.keysDir)) ensureOwnerOnlyDir(config.keysDir);
      else mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(file, privatePem, { mode: 0o600, flag: 'wx' });
      io.out(JSON.stringify({ keys: [publicJwk] }, null, 2));
      io.err(
        `private key written to ${file} (mode 0600). Set auth.keyFile to it and auth.keyId to "${opts.kid}" in the source; the service publishes the public key at /.well-known/jwks.json`,
      );
      setExit(ExitCode.ok);
    });
  keys
    .command('jwks')
    .description(
      'print the JWKS the service publishes: the key of every smart-backend source and every <kid>.pem in the keys directory',
    )
    .action(async () => {
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      io.out(JSON.stringify(await publishedKeys(config.sources, config.keysDir), null, 2));
      setExit(ExitCode.ok);
    });
}
