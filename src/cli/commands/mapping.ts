import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { configError, ExitCode } from '../../errors';
import { MAPPING_CASES_DIR, runCases } from '../../mapping/test-cases';
import { MAPPINGS_DIR } from '../../mapping/load';
import { sharedValidator } from '../../validation/validator';
import type { CliIo } from '../io';

interface MappingTestOptions {
  update?: boolean;
  mappings?: string;
  case?: string[];
}

export function registerMappingCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const mapping = program.command('mapping').description('work on mappings (mappings/*.yaml)');
  mapping
    .command('test')
    .description('run the mapping test cases: input resources → expected engagement model; exits 1 on any failure')
    .argument('[dir]', 'folder of cases', MAPPING_CASES_DIR)
    .option('--mappings <dir>', 'mappings folder', MAPPINGS_DIR)
    .option('--case <name...>', 'run only these cases')
    .option('--update', 'rewrite each expected.json with the current output (review the changes before committing)')
    .action((dir: string, opts: MappingTestOptions) => {
      if (!existsSync(dir)) throw configError(`no such folder of mapping cases: ${dir}`);
      const results = runCases({
        casesDir: path.resolve(dir),
        mappingsDir: path.resolve(opts.mappings ?? MAPPINGS_DIR),
        validator: sharedValidator(),
        update: opts.update,
        only: opts.case,
      });
      let failed = 0;
      for (const r of results) {
        if (r.passed) {
          io.out(`${opts.update ? 'updated' : 'pass'}  ${r.name}${r.description ? ` — ${r.description}` : ''}`);
          continue;
        }
        failed++;
        io.out(`FAIL  ${r.name}${r.description ? ` — ${r.description}` : ''}`);
        if (r.error) io.out(`      ${r.error.split('\n').join('\n      ')}`);
        for (const line of r.diff.slice(0, 40)) io.out(`      ${line}`);
        if (r.diff.length > 40) io.out(`      … ${r.diff.length - 40} more differences`);
      }
      io.out(`${results.length - failed} passed, ${failed} failed`);
      setExit(failed > 0 ? ExitCode.failure : ExitCode.ok);
    });
}
