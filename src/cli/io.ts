/** Where CLI commands print: injectable so commands can be tested in-process. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  isTTY: boolean;
  /** A failure (an error record when stderr carries JSON); default `err`. */
  error?(line: string): void;
  /** Set when stderr carries JSON records only (cli/log-format.ts): progress as a record with fields. */
  record?(msg: string, fields: Record<string, unknown>): void;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  isTTY: Boolean(process.stderr.isTTY),
};
