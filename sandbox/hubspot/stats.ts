/** One request the stand-in received, as tests and benchmarks look at it. */
export interface ServedCall {
  /** An `ENDPOINTS` value, or `unknown` for an unknown route. */
  readonly endpoint: string;
  /** The status sent; 0 when the stand-in hung or the client went away first. */
  readonly status: number;
  /** How many inputs a batch call carried. */
  readonly inputs?: number;
}

/** What the stand-in has served since it started or since `reset()`. */
export interface StandInStats {
  /** Requests received, whatever their answer. */
  readonly total: number;
  /** Requests received per endpoint (`ENDPOINTS` values, and `unknown`). */
  readonly byEndpoint: Readonly<Record<string, number>>;
  /** Answers sent per status code. */
  readonly byStatus: Readonly<Record<number, number>>;
  /** Requests the client abandoned before an answer was sent (timeouts, aborts). */
  readonly aborted: number;
  /** The most recent calls, oldest first (at most 1,000, so a benchmark cannot grow it). */
  readonly calls: readonly ServedCall[];
  /** Endpoint requests received with this many inputs per call, e.g. [100, 50]. */
  inputsPerCall(endpoint: string): number[];
  reset(): void;
}

const MAX_CALLS = 1000;

/** The counters behind `StandInStats`. */
export class Counters implements StandInStats {
  total = 0;
  aborted = 0;
  byEndpoint: Record<string, number> = {};
  byStatus: Record<number, number> = {};
  calls: ServedCall[] = [];

  /** Counts a request; `settle` records its answer once, later calls are ignored. */
  received(endpoint: string, inputs: number | undefined): (status: number) => void {
    this.total += 1;
    this.byEndpoint[endpoint] = (this.byEndpoint[endpoint] ?? 0) + 1;
    let settled = false;
    return (status) => {
      if (settled) return;
      settled = true;
      if (status === 0) this.aborted += 1;
      else this.byStatus[status] = (this.byStatus[status] ?? 0) + 1;
      this.calls.push(inputs === undefined ? { endpoint, status } : { endpoint, status, inputs });
      if (this.calls.length > MAX_CALLS) this.calls.shift();
    };
  }

  inputsPerCall(endpoint: string): number[] {
    return this.calls.filter((c) => c.endpoint === endpoint && c.inputs !== undefined).map((c) => c.inputs!);
  }

  reset(): void {
    this.total = 0;
    this.aborted = 0;
    this.byEndpoint = {};
    this.byStatus = {};
    this.calls = [];
  }
}
