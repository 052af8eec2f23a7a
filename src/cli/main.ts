import { processIo } from './io';
import { runCli } from './program';

export async function main(argv: string[]): Promise<void> {
  const code = await runCli(argv, processIo);
  process.exitCode = code;
}

if (require.main === module) {
  void main(process.argv);
}
