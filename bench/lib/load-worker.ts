/**
 * The load generator, in a worker thread: autocannon at a fixed number of connections (the
 * concurrency), either for a number of requests or for a duration. Each request's body is the next
 * of `bodies` (round robin), so a cold run can ask for a customer nobody asked for before. Every
 * response's latency is kept, so percentiles are exact rather than read off autocannon's buckets.
 */
import autocannon from 'autocannon';
import { serveCalls } from './workers.ts';

export interface LoadJob {
  readonly url: string;
  readonly bodies: readonly string[];
  readonly connections: number;
  /** Requests to send; or, without it, send for `durationSeconds`. */
  readonly amount?: number;
  readonly durationSeconds?: number;
  readonly timeoutSeconds?: number;
  readonly headers?: Record<string, string>;
}

export interface LoadResult {
  readonly requests: number;
  readonly seconds: number;
  readonly rps: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
  /** Responses with a status other than 2xx, and requests that got no answer in time. */
  readonly non2xx: number;
  readonly timeouts: number;
  /** Responses whose body carries GraphQL errors, and how many errors of each code. */
  readonly withErrors: number;
  readonly errorCodes: Record<string, number>;
  /** Latency of each response in the order answered (only when asked, for time lines). */
  readonly series?: number[];
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

serveCalls({
  async run(job: LoadJob & { keepSeries?: boolean }, emit) {
    let next = 0;
    let withErrors = 0;
    const latencies: number[] = [];
    const errorCodes: Record<string, number> = {};
    const started = performance.now();
    const instance = autocannon({
      url: job.url,
      connections: job.connections,
      ...(job.amount !== undefined ? { amount: job.amount } : { duration: job.durationSeconds ?? 5 }),
      timeout: job.timeoutSeconds ?? 30,
      skipAggregateResult: true,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...job.headers },
          setupRequest: (request) => ({ ...request, body: job.bodies[next++ % job.bodies.length]! }),
          onResponse: (_status, body) => {
            if (!body.includes('"errors"')) return;
            withErrors++;
            for (const match of body.matchAll(/"code":"(\w+)"/g)) errorCodes[match[1]!] = (errorCodes[match[1]!] ?? 0) + 1;
          },
        },
      ],
    });
    // Timed from the start to the last answer: autocannon itself settles on its next one-second tick.
    let lastAnswer = started;
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      latencies.push(responseTime);
      lastAnswer = performance.now();
    });
    const ticker = setInterval(() => emit({ done: latencies.length }), 250);
    const result = await instance;
    clearInterval(ticker);
    const seconds = (lastAnswer - started) / 1000;
    const sorted = [...latencies].sort((a, b) => a - b);
    const out: LoadResult = {
      requests: latencies.length,
      seconds,
      rps: latencies.length / seconds,
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? NaN,
      mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
      non2xx: result.non2xx,
      timeouts: result.timeouts,
      withErrors,
      errorCodes,
      ...(job.keepSeries && { series: latencies }),
    };
    return out;
  },
});
