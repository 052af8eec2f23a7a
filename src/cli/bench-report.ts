/** The bench's figures: one result per scenario (ratios against the raw limit), the report, and its table. */

export interface SyncResult {
  scenario: string;
  store: string;
  patients: number;
  seconds: number;
  resources: number;
  resourcesPerSecond: number;
  ratioToRaw: number;
  writes: number;
  requests: number;
  requestsPerWrite: number | null;
  maxRssMb: number;
  heapUsedMb: number;
  stageShare: Record<string, number>;
  status: string;
}

export interface BenchReport {
  startedAt: string;
  machine: { cpus: number; memoryGb: number; node: string };
  raw: { patients: number; resources: number; seconds: number; resourcesPerSecond: number }[];
  runs: SyncResult[];
}

export function toResult(
  scenario: string,
  store: string,
  patients: number,
  raw: number,
  r: { seconds: number; json: Record<string, unknown> },
): SyncResult {
  const j = r.json as {
    status: string;
    resources: Record<string, number>;
    writes: Record<string, Record<string, number>>;
    requests: number;
    memory: { maxRssMb: number; heapUsedMb: number };
    stages: Record<string, number>;
  };
  const resources = Object.values(j.resources ?? {}).reduce((a, b) => a + b, 0);
  const writes = Object.values(j.writes ?? {}).reduce(
    (n, w) => n + (w.created ?? 0) + (w.updated ?? 0) + (w.cancelled ?? 0) + (w.completed ?? 0),
    0,
  );
  const stageTotal = Object.values(j.stages ?? {}).reduce((a, b) => a + b, 0) || 1;
  return {
    scenario,
    store,
    patients,
    seconds: Math.round(r.seconds * 100) / 100,
    resources,
    resourcesPerSecond: Math.round(resources / r.seconds),
    ratioToRaw: Math.round((resources / r.seconds / raw) * 1000) / 1000,
    writes,
    requests: j.requests,
    requestsPerWrite: writes ? Math.round((j.requests / writes) * 1000) / 1000 : null,
    maxRssMb: j.memory?.maxRssMb ?? 0,
    heapUsedMb: j.memory?.heapUsedMb ?? 0,
    stageShare: Object.fromEntries(
      Object.entries(j.stages ?? {}).map(([k, v]) => [k.replace(/Ms$/, ''), Math.round((v / stageTotal) * 100) / 100]),
    ),
    status: j.status,
  };
}

export function parseSizes(list: string): number[] {
  return list
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

export function formatBenchTable(report: BenchReport): string[] {
  const lines = [
    '| scenario | store | patients | s | resources/s | × raw | writes | requests/write | peak RSS MB | stage shares |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of report.raw)
    lines.push(
      `| raw limit (fetch + parse) | — | ${r.patients} | ${r.seconds.toFixed(2)} | ${r.resourcesPerSecond} | 1 | — | — | — | — |`,
    );
  for (const r of report.runs) {
    const shares = Object.entries(r.stageShare)
      .filter(([, v]) => v >= 0.01)
      .map(([k, v]) => `${k} ${Math.round(v * 100)}%`)
      .join(', ');
    lines.push(
      `| ${r.scenario} | ${r.store} | ${r.patients} | ${r.seconds.toFixed(2)} | ${r.resourcesPerSecond} | ${r.ratioToRaw} | ${r.writes} | ${r.requestsPerWrite ?? '—'} | ${r.maxRssMb} | ${shares} |`,
    );
  }
  return lines;
}
