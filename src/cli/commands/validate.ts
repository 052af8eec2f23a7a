import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { badRequest, configError, ExitCode } from '../../errors';
import { readResources } from '../../validation/files';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { sharedValidator, type ValidationResult } from '../../validation/validator';
import type { CliIo } from '../io';

interface ValidateOptions {
  json?: boolean;
  quiet?: boolean;
}

function label(resource: unknown): string {
  const r = resource as { resourceType?: unknown; id?: unknown } | undefined;
  return `${typeof r?.resourceType === 'string' ? r.resourceType : '?'}${typeof r?.id === 'string' ? `/${r.id}` : ''}`;
}

/** Keys given twice: JSON.parse kept the last value, which may not be what the author meant. */
function withDuplicateKeys(result: ValidationResult, keys: string[] | undefined, what: string): ValidationResult {
  if (!keys?.length) return result;
  const type = what.split('/')[0] as string;
  const issues: OperationOutcomeIssue[] = keys.map((k) => ({
    severity: 'warning',
    code: 'structure',
    details: { text: `key "${k}" appears twice in one object; the last value is used` },
    expression: [`${type}.${k}`],
  }));
  return {
    valid: result.valid,
    outcome: { resourceType: 'OperationOutcome', issue: [...issues, ...(result.outcome?.issue ?? [])] },
  };
}

export function registerValidateCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('validate')
    .description(
      'validate local FHIR JSON, NDJSON or Bundles against FHIR R4 and the profiles/ constraints; exits 1 if any is invalid',
    )
    .argument('<paths...>', 'files or directories (.json, .ndjson, .jsonl)')
    .option('--json', 'print one JSON line per resource: {where, resourceType, id, valid, outcome}')
    .option('-q, --quiet', 'print only the resources with errors or warnings')
    .action((paths: string[], opts: ValidateOptions) => {
      for (const p of paths) if (!existsSync(p)) throw configError(`no such file or directory: ${p}`);
      const validator = sharedValidator();
      let total = 0;
      let invalid = 0;
      let warned = 0;
      for (const target of paths) {
        for (const item of readResources(target)) {
          total++;
          const result = item.parseError
            ? { valid: false, outcome: badRequest(item.parseError) }
            : withDuplicateKeys(
                validator.validate(item.resource, 'incoming', { information: true }),
                item.duplicateKeys,
                label(item.resource),
              );
          const hasWarnings = result.outcome?.issue.some((i) => i.severity === 'warning') ?? false;
          if (!result.valid) invalid++;
          else if (hasWarnings) warned++;
          const r = item.resource as { resourceType?: string; id?: string } | undefined;
          if (opts.json) {
            io.out(
              JSON.stringify({
                where: item.where,
                resourceType: r?.resourceType,
                id: r?.id,
                valid: result.valid,
                ...(result.outcome ? { outcome: result.outcome } : {}),
              }),
            );
            continue;
          }
          if (opts.quiet && !result.outcome) continue;
          io.out(
            `${item.where} ${label(item.resource)}: ${result.valid ? (hasWarnings ? 'valid, with warnings' : 'valid') : 'INVALID'}`,
          );
          for (const issue of result.outcome?.issue ?? []) {
            io.out(`  ${issue.severity} ${issue.code}: ${issue.details?.text ?? ''}`);
          }
        }
      }
      if (!opts.json)
        io.out(`${total} resource(s): ${total - invalid} valid (${warned} with warnings), ${invalid} invalid`);
      setExit(invalid > 0 ? ExitCode.failure : ExitCode.ok);
    });
}
