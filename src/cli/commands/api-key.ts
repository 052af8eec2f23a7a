import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { configError, ExitCode } from '../../errors';
import { makeApiKey } from '../../api/auth';
import { isRole, ROLES } from '../../api/identity';
import { openStore } from '../../store/open';
import type { Store } from '../../store/store';
import type { CliIo } from '../io';

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',')];

/** A duration ahead (90d, 12h) or an ISO instant, as the key's expiry. */
function expiryOf(text: string | undefined, now: number): Date | null {
  if (text === undefined || text === 'never') return null;
  const m = /^(\d{1,4})([dh])$/.exec(text);
  const at = m ? new Date(now + Number(m[1]) * (m[2] === 'd' ? 86_400_000 : 3_600_000)) : new Date(text);
  if (Number.isNaN(at.getTime()) || at.getTime() <= now)
    throw configError(
      `--expires: a duration such as 90d or 12h, an ISO instant in the future, or never; got "${text}"`,
    );
  return at;
}

async function withStore(program: Command, fn: (store: Store, sources: string[]) => Promise<void>): Promise<void> {
  const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
  const store = await openStore(config.store);
  try {
    await fn(
      store,
      config.sources.map((s) => s.id),
    );
  } finally {
    await store.close();
  }
}

/**
 * `fhir-engage api-key new|list|revoke` (docs/operations.md, "People and access"): keys for machines,
 * each with a name, roles, the sources it may see and an expiry; only the digest is stored, the key is
 * printed once; a revoked or expired key is refused at once (keys are looked up at each request).
 */
export function registerApiKeyCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const keys = program.command('api-key').description('API keys for machines: make, list, revoke');
  keys
    .command('new')
    .description('make an API key, store its SHA-256 digest, print the key once')
    .option('--name <name>', 'what the key is for (shown in the access log)', 'api key')
    .option('--role <role>', `a role (repeat or comma-separate): ${ROLES.join(', ')}`, collect)
    .option('--source <id>', 'a source it may see (repeat or comma-separate); default every source', collect)
    .option('--expires <when>', 'a duration (90d, 12h), an ISO instant, or never', '90d')
    .action(async (opts: { name: string; role?: string[]; source?: string[]; expires?: string }) => {
      const roles = opts.role ?? [];
      const bad = roles.filter((r) => !isRole(r));
      if (!roles.length || bad.length)
        throw configError(
          `--role: one or more of ${ROLES.join(', ')}${bad.length ? `; not a role: ${bad.join(', ')}` : ''}`,
        );
      const expiresAt = expiryOf(opts.expires, Date.now());
      await withStore(program, async (store, known) => {
        const unknown = (opts.source ?? []).filter((s) => !known.includes(s));
        if (unknown.length)
          throw configError(
            `--source: no source ${unknown.join(', ')}; sources: ${known.join(', ') || 'none configured'}`,
          );
        const made = await makeApiKey(store, {
          name: opts.name,
          roles,
          sources: opts.source ?? null,
          expiresAt,
          createdBy: 'cli',
        });
        io.out(made.key);
        io.err(
          `API key ${made.record.id} (${made.record.name}): roles ${roles.join(', ')}; sources ${opts.source?.join(', ') ?? 'all'}; expires ${expiresAt?.toISOString() ?? 'never'}. It is shown this once: keep it.`,
        );
      });
      setExit(ExitCode.ok);
    });
  keys
    .command('list')
    .description('the keys: id, name, roles, sources, expiry, revoked (never the keys themselves)')
    .action(async () => {
      await withStore(program, async (store) => {
        for (const k of await store.listApiKeys())
          io.out(
            `${k.id}  ${k.name}  roles ${k.roles.join(',')}  sources ${k.sources?.join(',') ?? 'all'}  expires ${k.expiresAt?.toISOString() ?? 'never'}${k.revokedAt ? `  REVOKED ${k.revokedAt.toISOString()}` : ''}`,
          );
      });
      setExit(ExitCode.ok);
    });
  keys
    .command('revoke <id>')
    .description('revoke a key: refused from the next request on, by every running service')
    .action(async (id: string) => {
      await withStore(program, async (store) => {
        const revoked = await store.revokeApiKey(id, new Date());
        if (!revoked) throw configError(`no API key ${id} (\`fhir-engage api-key list\` lists them)`);
        io.err(`API key ${revoked.id} (${revoked.name}) revoked`);
      });
      setExit(ExitCode.ok);
    });
}
