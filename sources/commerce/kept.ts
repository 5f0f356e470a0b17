/**
 * A value computed over the whole shop (RFM boundaries, CLV parameters) and kept in process:
 * computed at start-up and again in the background, so a request only reads it.
 */
/** Where a keeper reports a failed computation (once per episode) and its recovery. */
export interface KeptLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface Kept<T> {
  /**
   * Computes now and again every `refreshMs` (an unref'ed timer: it never holds the process open).
   * Resolves when the first computation settles, whether or not it succeeded (a failure is
   * logged, and retried sooner); never rejects. Calling it again does nothing but replace the
   * logger.
   */
  start(logger?: KeptLogger): Promise<void>;
  /** Stops the background computation; the current value stays. */
  stop(): void;
  /** The value in force, or null when none was ever computed. Never waits, never queries. */
  current(): T | null;
  /**
   * The value in force; when none was ever computed (the database was down at start-up), one
   * computation shared by every concurrent caller. Rejects with the computation's error.
   */
  ensure(): Promise<T>;
}

export interface KeptOptions<T> {
  /** One computation; only one runs at a time, whoever asks. */
  readonly compute: () => Promise<T>;
  /** How often it runs once started. */
  readonly refreshMs: number;
  /** What the log lines call it, e.g. "RFM boundaries". */
  readonly name: string;
  /** What a failed computation costs, for the log: while there is a previous value, and before the first. */
  readonly whenFailing: { readonly kept: string; readonly none: string };
  /** Log fields of a fresh value, for the line that says it was computed again after failures. */
  describe(value: T): Record<string, unknown>;
}

/** After a failed computation the next try comes sooner than a routine refresh, at most this late. */
const RETRY_AFTER_FAILURE_MS = 30_000;
const silent: KeptLogger = { warn: () => undefined, info: () => undefined };

/**
 * Keeps a value (see Kept). A failed computation keeps the previous value (an older value serves
 * far better than none) and is logged once until one succeeds again.
 */
export function kept<T>(options: KeptOptions<T>): Kept<T> {
  let current: T | null = null;
  let computing: Promise<T> | null = null;
  let failing = false;
  let started = false;
  let timer: NodeJS.Timeout | undefined;
  let logger = silent;

  const compute = (): Promise<T> => {
    computing ??= options
      .compute()
      .then(
        (fresh) => {
          const recovered = failing;
          current = fresh;
          failing = false;
          if (recovered) logger.info({ source: 'commerce', ...options.describe(fresh) }, `${options.name} computed again`);
          return fresh;
        },
        (error: unknown) => {
          if (!failing) {
            logger.warn(
              { source: 'commerce', err: error, kept: current === null ? null : options.describe(current) },
              current ? `${options.name} could not be recomputed: ${options.whenFailing.kept}` : `${options.name} could not be computed: ${options.whenFailing.none}`,
            );
          }
          failing = true;
          throw error;
        },
      )
      .finally(() => {
        computing = null;
      });
    return computing;
  };

  const schedule = () => {
    const delay = failing ? Math.min(options.refreshMs, RETRY_AFTER_FAILURE_MS) : options.refreshMs;
    timer = setTimeout(() => {
      void compute()
        .catch(() => undefined)
        .finally(() => {
          if (started) schedule();
        });
    }, delay);
    timer.unref();
  };

  return {
    async start(log) {
      if (log) logger = log;
      if (started) return;
      started = true;
      await compute().catch(() => undefined);
      if (started) schedule();
    },
    stop() {
      started = false;
      clearTimeout(timer);
    },
    current: () => current,
    ensure: () => (current !== null ? Promise.resolve(current) : compute()),
  };
}
