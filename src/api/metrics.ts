/** Prometheus metrics of the service (prom-client, a registry of its own). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../store/store';
import type { SyncEvent } from '../sync/events';
import type { SyncSummary } from '../sync/events';

export class Metrics {
  readonly registry = new Registry();
  private readonly runs = new Counter({
    name: 'fhir_engage_runs_total',
    help: 'Sync runs finished, by source and status',
    labelNames: ['source', 'status'],
    registers: [this.registry],
  });
  private readonly pulled = new Counter({
    name: 'fhir_engage_resources_pulled_total',
    help: 'Resources received from EMRs, by source and type',
    labelNames: ['source', 'type'],
    registers: [this.registry],
  });
  private readonly deadLetters = new Counter({
    name: 'fhir_engage_dead_letters_total',
    help: 'Dead letters recorded by runs, by source',
    labelNames: ['source'],
    registers: [this.registry],
  });
  private readonly writes = new Counter({
    name: 'fhir_engage_writes_total',
    help: 'Writes to EMRs, by source, resource type and outcome',
    labelNames: ['source', 'type', 'outcome'],
    registers: [this.registry],
  });
  private readonly requestErrors = new Counter({
    name: 'fhir_engage_request_errors_total',
    help: 'HTTP error answers and retries from EMRs, by source and kind',
    labelNames: ['source', 'kind'],
    registers: [this.registry],
  });
  private readonly tokenExpiry = new Gauge({
    name: 'fhir_engage_token_expiry_timestamp_seconds',
    help: 'When the access token last issued to a source expires (Unix time)',
    labelNames: ['source'],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'fhir_engage_run_duration_seconds',
    help: 'Duration of sync runs',
    labelNames: ['source'],
    buckets: [1, 5, 15, 60, 300, 900, 3600],
    registers: [this.registry],
  });

  constructor(defaults = true) {
    // Standard names (process_cpu_seconds_total, nodejs_heap_size_used_bytes…) so stock dashboards work.
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }

  /** Gauges read from the store at each scrape: what an alert needs (docs/alerts.yaml). */
  watch(store: Store): void {
    type Rows = Awaited<ReturnType<Store['monitoringGauges']>>;
    // prom-client collects the metrics of a scrape concurrently: they share one read of the store.
    let inFlight: Promise<Rows | undefined> | undefined;
    const read = (): Promise<Rows | undefined> => {
      inFlight ??= store
        .monitoringGauges()
        .catch(() => undefined)
        .finally(() => setImmediate(() => (inFlight = undefined)));
      return inFlight;
    };
    const perSource = (name: string, help: string, value: (r: Rows[number]) => number | undefined): Gauge =>
      new Gauge({
        name,
        help,
        labelNames: ['source'],
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const r of (await read()) ?? []) {
            const v = value(r);
            if (v !== undefined) this.set({ source: r.sourceId }, v);
          }
        },
      });
    new Gauge({
      name: 'fhir_engage_store_up',
      help: '1 when the store answered the last scrape, 0 otherwise',
      registers: [this.registry],
      async collect() {
        this.set((await read()) ? 1 : 0);
      },
    });
    perSource(
      'fhir_engage_last_success_timestamp_seconds',
      'End of the last successful sync run, by source (Unix time)',
      (r) => (r.lastSuccess ? r.lastSuccess.getTime() / 1000 : undefined),
    );
    perSource('fhir_engage_open_dead_letters', 'Dead letters open now, by source', (r) => r.openDeadLetters);
    perSource(
      'fhir_engage_outbox_depth',
      'Writes planned and not yet acknowledged by the EMR, by source',
      (r) => r.outboxDepth,
    );
  }

  /** Subscribes to a runner's events: each finished run is counted. */
  observe = (e: SyncEvent): void => {
    if (e.type === 'run-finished') this.recordRun(e.summary);
  };

  recordRun(s: SyncSummary): void {
    this.runs.inc({ source: s.sourceId, status: s.status });
    this.duration.observe({ source: s.sourceId }, s.durationMs / 1000);
    for (const t of s.pull) if (t.received) this.pulled.inc({ source: s.sourceId, type: t.resourceType }, t.received);
    if (s.deadLetters.thisRun) this.deadLetters.inc({ source: s.sourceId }, s.deadLetters.thisRun);
    for (const [type, w] of Object.entries(s.writes)) {
      for (const [outcome, n] of Object.entries(w)) if (n) this.writes.inc({ source: s.sourceId, type, outcome }, n);
    }
    if (s.requests.errors) this.requestErrors.inc({ source: s.sourceId, kind: 'error-answer' }, s.requests.errors);
    if (s.requests.retries) this.requestErrors.inc({ source: s.sourceId, kind: 'retry' }, s.requests.retries);
    if (s.requests.tokenExpiresAt) this.tokenExpiry.set({ source: s.sourceId }, s.requests.tokenExpiresAt / 1000);
  }
}
