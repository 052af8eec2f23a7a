/**
 * Per-source request pacing: at most `concurrency` requests in flight and at
 * most `requestsPerSecond` started per second (a token bucket with a burst of
 * one second's worth). Clock and sleep are injected so tests can fake time.
 */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly requestsPerSecond: number,
    private readonly concurrency: number,
    private readonly clock: Clock = realClock,
  ) {
    this.tokens = Math.max(1, requestsPerSecond);
    this.refilledAt = clock.now();
  }

  private async acquireSlot(): Promise<void> {
    if (this.active < this.concurrency) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  private async acquireToken(): Promise<void> {
    for (;;) {
      const now = this.clock.now();
      const capacity = Math.max(1, this.requestsPerSecond);
      this.tokens = Math.min(capacity, this.tokens + ((now - this.refilledAt) / 1000) * this.requestsPerSecond);
      this.refilledAt = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.clock.sleep(Math.ceil(((1 - this.tokens) / this.requestsPerSecond) * 1000));
    }
  }

  /** Runs `fn` within the limits. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquireSlot();
    try {
      await this.acquireToken();
      return await fn();
    } finally {
      this.releaseSlot();
    }
  }
}
