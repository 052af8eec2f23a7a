/** The bench leaves nothing behind: its PostgreSQL schemas and its scratch stores are removed when it ends. */
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { runCliProcessAsync } from '../helpers/cli';

async function benchSchemas(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (
      await client.query<{ nspname: string }>("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_%'")
    ).rows.map((r) => r.nspname);
  } finally {
    await client.end();
  }
}

const scratch = (): string[] => readdirSync(os.tmpdir()).filter((n) => n.startsWith('fe-bench-'));

test('a small bench run measures every scenario, writes its results where asked, and drops its schemas and scratch stores', async () => {
  const url = process.env.TEST_DATABASE_URL;
  const results = mkdtempSync(path.join(os.tmpdir(), 'fe-bench-results-'));
  const schemasBefore = url ? await benchSchemas(url) : [];
  const scratchBefore = new Set(scratch());
  const res = await runCliProcessAsync(['bench', '--sizes', '30', '--write-back-size', '30', '--results', results], {
    env: url ? { TEST_DATABASE_URL: url } : {},
  });
  expect(res.status).toBe(0);
  expect(res.stdout).toContain('| second run (must write 0) | pglite | 30 |');
  if (url) expect(res.stdout).toContain('| full sync, no write-back | postgres | 30 |');
  expect(readdirSync(results).filter((f) => f.endsWith('.json'))).toHaveLength(1);
  if (url) expect(await benchSchemas(url)).toEqual(schemasBefore);
  expect(scratch().filter((n) => !scratchBefore.has(n) && !n.startsWith('fe-bench-results-'))).toEqual([]);
}, 240_000);
