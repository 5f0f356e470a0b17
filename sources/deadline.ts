import { SourceError, type SourceName } from './errors.ts';

/**
 * A request's deadline as batch functions receive it: an AbortSignal that aborts when the time is
 * up. A signal made by `deadlineSignal` also says when that is (`timeLeft`), so a source can bound
 * its retries by the time that is left; any other signal (AbortSignal.timeout, a caller's own) only
 * says that the time is up, once it is.
 */

const deadlines = new WeakMap<AbortSignal, number>();

export interface DeadlineSignal {
  readonly signal: AbortSignal;
  /** Stops the timer (the work is over); the signal then never aborts. */
  dispose(): void;
}

/**
 * A signal that aborts at `deadline` (epoch ms), at once when it has passed, with the reason
 * `reason` makes then: only a call that runs out of time pays for an error (and its stack).
 */
export function deadlineSignal(deadline: number, reason: () => unknown): DeadlineSignal {
  const controller = new AbortController();
  deadlines.set(controller.signal, deadline);
  const remaining = deadline - Date.now();
  if (remaining <= 0) {
    controller.abort(reason());
    return { signal: controller.signal, dispose: () => undefined };
  }
  const timer = setTimeout(() => controller.abort(reason()), remaining);
  return { signal: controller.signal, dispose: () => clearTimeout(timer) };
}

/** Ms until the signal's deadline: 0 once it aborted, Infinity without a signal or a known deadline. */
export function timeLeft(signal: AbortSignal | undefined): number {
  if (!signal) return Number.POSITIVE_INFINITY;
  if (signal.aborted) return 0;
  const deadline = deadlines.get(signal);
  return deadline === undefined ? Number.POSITIVE_INFINITY : Math.max(0, deadline - Date.now());
}

/** Waits `ms`, or less when the signal aborts first (the caller then checks `signal.aborted`). */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * What a source throws when the caller's deadline passed before it could (again) call its
 * upstream: the signal's reason when that is already a SourceError (the guard aborts with one, and
 * recognizes it as "the caller gave up", not as the upstream failing), otherwise a `timeout`.
 */
export function deadlinePassed(signal: AbortSignal, source: SourceName, what: string): SourceError {
  if (signal.reason instanceof SourceError) return signal.reason;
  return new SourceError(source, 'timeout', `${what}: the caller's deadline passed before the upstream was called`, { cause: signal.reason });
}
