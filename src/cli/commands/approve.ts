import os from 'node:os';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load';
import { configError, ExitCode } from '../../errors';
import { openStore } from '../../store/open';
import { approveAndSend } from '../../sync/approval';
import type { CliIo } from '../io';

/**
 * `fhir-engage approve --source ID`: shows the plan a run held for approval (docs/programme.md, "A
 * first run that asks before it writes") and, with `--yes` or at a terminal's confirmation, sends
 * exactly that plan.
 */
export function registerApproveCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('approve')
    .description(
      "send the writes a run held for approval (a source's first writes, or an unusual volume): shows the plan, then sends exactly it with --yes",
    )
    .requiredOption('--source <id>', 'the source whose held plan to send')
    .option('--yes', 'send the plan (without it, only show it)')
    .action(async (opts: { source: string; yes?: boolean }) => {
      const config = loadConfig({ configFile: program.opts<{ config?: string }>().config });
      const source = config.sources.find((s) => s.id === opts.source);
      if (!source) throw configError(`no source ${opts.source} in the sources file`, ['--source']);
      const store = await openStore(config.store);
      try {
        const open = await store.openApproval(source.id);
        if (!open) {
          io.err(`nothing of ${source.id} is held for approval`);
          setExit(ExitCode.ok);
          return;
        }
        io.out(`held since ${open.heldAt.toISOString()} (${open.reason}): ${open.detail}`);
        for (const r of open.plan.byRule)
          io.out(
            `  ${r.rule}: ${r.count} ${r.resourceType} ${r.op === 'close' ? 'to close' : 'to write'} (e.g. patients ${r.examples.join(', ')})`,
          );
        if (!opts.yes) {
          io.err(`nothing was sent: run again with --yes to send exactly this plan`);
          setExit(ExitCode.ok);
          return;
        }
        const { sent } = await approveAndSend(store, source, `cli:${os.userInfo().username}`, config.safetyAlerts);
        const counts = Object.entries(sent.byType).map(
          ([type, c]) =>
            `${type}: ${Object.entries(c)
              .map(([k, n]) => `${n} ${k}`)
              .join(', ')}`,
        );
        io.out(`approved and sent: ${counts.join('; ') || 'nothing left to send'}`);
        setExit(Object.values(sent.byType).some((c) => (c.failed ?? 0) > 0) ? ExitCode.failure : ExitCode.ok);
      } finally {
        await store.close();
      }
    });
}
