import { setFlagsFromString } from 'node:v8';
import { processIo } from './io';
import { jsonStderrIo, logFormatOf, type LogFormat } from './log-format';
import { runCli } from './program';
import { loadDotEnv } from '../config/env';
import { describeError, ExitCode } from '../errors';

/**
 * A larger young generation for the CLI process: a sync allocates a parsed page, its canonical form
 * and its SQL parameter per batch, and with V8's default 16 MB semi-spaces those survive into the old
 * generation and cost full collections (~10 % less CPU per synced resource measured on 2 cores,
 * docs/performance.md). Set before any work; a --max-semi-space-size given in NODE_OPTIONS wins.
 */
export function tuneHeap(nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  if (/--max-semi-space-size/.test(nodeOptions) || process.execArgv.some((a) => a.startsWith('--max-semi-space-size')))
    return false;
  setFlagsFromString('--max-semi-space-size=64');
  return true;
}

export async function main(argv: string[]): Promise<void> {
  tuneHeap();
  // Secrets and settings kept in .env beside the sources file (config init writes it).
  try {
    loadDotEnv(process.cwd());
  } catch (err) {
    processIo.err(describeError(err));
    process.exitCode = ExitCode.usage;
    return;
  }
  let format: LogFormat;
  try {
    format = logFormatOf(argv.slice(2), process.env, processIo.isTTY);
  } catch (err) {
    processIo.err(describeError(err));
    process.exitCode = ExitCode.usage;
    return;
  }
  // With JSON on stderr, the command's own lines are records too: one format per stream.
  const code = await runCli(argv, format === 'json' ? jsonStderrIo(processIo) : processIo, format);
  process.exitCode = code;
}

if (require.main === module) {
  void main(process.argv);
}
