import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { TaskCancelledError, timeout, TimeoutStrategy } from 'cockatiel';

/**
 * One HTTP attempt made through the HubSpot SDK, bounded in time and observed from outside.
 *
 * The SDK takes no AbortSignal and keeps only the fields of its `Error` model from an error body,
 * so an attempt runs inside an AsyncLocalStorage context that (1) picks up the ClientRequest it
 * creates, from Node's `http.client.request.start` channel, so a timeout can destroy the socket
 * rather than leave it open, and (2) records, through SDK middleware, the status and the 429
 * `policyName` (DAILY or TEN_SECONDLY_ROLLING) the SDK would otherwise drop.
 */

/** What one attempt left behind, for deciding what its failure means. */
export interface AttemptTrace {
  request?: ClientRequest;
  /** HTTP status of the answer, when there was one. */
  status?: number;
  /** `policyName` from a 429 body. */
  rateLimitPolicy?: string;
}

export type AttemptResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown; readonly trace: AttemptTrace };

/** Thrown into nobody: marks an attempt that ran out of time (see `attempt`). */
export class AttemptTimedOut extends Error {
  override readonly name = 'AttemptTimedOut';
}

const traces = new AsyncLocalStorage<AttemptTrace>();
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  diagnostics.subscribe('http.client.request.start', (message) => {
    const trace = traces.getStore();
    if (trace && !trace.request) trace.request = (message as { request: ClientRequest }).request;
  });
}

/**
 * Runs `send` (one SDK call) under cockatiel's aggressive timeout, settling within `timeoutMs`:
 * with its value, or with the error and the trace. On timeout the HTTP request is destroyed and its
 * late outcome ignored.
 */
export async function attempt<T>(send: () => Promise<T>, timeoutMs: number): Promise<AttemptResult<T>> {
  listen();
  const trace: AttemptTrace = {};
  // abortOnReturn off: the signal aborts only at the timeout, so a finished attempt's socket, back
  // in the agent's pool for another request, is never destroyed.
  const policy = timeout(timeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false });
  try {
    const value = await policy.execute(({ signal }) => {
      signal.addEventListener('abort', () => trace.request?.destroy(), { once: true });
      return traces.run(trace, send);
    });
    return { ok: true, value };
  } catch (error) {
    const timedOut = error instanceof TaskCancelledError;
    return { ok: false, error: timedOut ? new AttemptTimedOut(`no answer within ${timeoutMs} ms`) : error, trace };
  }
}

interface SdkResponse {
  httpStatusCode: number;
  body: { text(): Promise<string>; binary(): Promise<Buffer> };
}

/** SDK middleware (`IConfiguration.middleware`) that fills the current attempt's trace. */
export const traceMiddleware = {
  pre: (context: unknown): unknown => context,
  async post(context: unknown): Promise<unknown> {
    const trace = traces.getStore();
    const response = context as SdkResponse;
    if (!trace) return context;
    trace.status = response.httpStatusCode;
    if (response.httpStatusCode === 429) {
      const text = await response.body.text();
      trace.rateLimitPolicy = policyNameOf(text);
      // The body stream is spent: hand the SDK a replay of it.
      response.body = { text: async () => text, binary: async () => Buffer.from(text) };
    }
    return context;
  },
};

function policyNameOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { policyName?: unknown };
    return typeof body.policyName === 'string' ? body.policyName : undefined;
  } catch {
    return undefined;
  }
}
