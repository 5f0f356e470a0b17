import { Session } from 'node:inspector/promises';

/**
 * CPU profiles of the server's thread (`BENCH_CPU_PROF=1`). The benchmark runs the server in its
 * main thread and the load generator and stand-ins in workers, so a profile of the main thread
 * taken over one measured run is the server's work under that load, and the thread's CPU time over
 * the run, divided by its requests, is the server's CPU per request.
 */

/** A V8 CPU profile (`Profiler.Profile`), as Chrome DevTools and `node --cpu-prof` write it. */
export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number; readonly columnNumber: number };
  }>;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** One function's share of the profile's busy time: sampled on top of the stack (self time). */
export interface TopItem {
  /** `name (file:line:column)`, the file relative to the repository. */
  readonly frame: string;
  readonly selfMs: number;
  /** Self time over all non-idle time, in percent. */
  readonly percent: number;
}

export interface ProfiledRun {
  readonly profile: CpuProfile;
  /** CPU time of the profiled thread over the run (user + system), in milliseconds. */
  readonly cpuMs: number;
}

/** Starts sampling this thread; `stop` ends it and returns the profile with the thread's CPU time meanwhile. */
export async function startProfile(): Promise<{ stop(): Promise<ProfiledRun> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // V8's default interval, stated so that profiles of different runs and machines compare.
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
  const before = process.threadCpuUsage();
  return {
    async stop() {
      const used = process.threadCpuUsage(before);
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      return { profile, cpuMs: (used.user + used.system) / 1000 };
    },
  };
}

/** The `n` functions with the most self time, idle time left out; `root` is stripped from file paths. */
export function topSelfTime(profile: CpuProfile, n: number, root: string): TopItem[] {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const self = new Map<string, number>();
  let busy = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // The first sample's delta runs from the profile's start (the call that started it), not from a
  // sample before it; each later one is the time since the one before, charged to the later sample.
  for (let i = 1; i < samples.length; i++) {
    const frame = byNode.get(samples[i]!);
    const micros = deltas[i] ?? 0;
    if (!frame || frame.functionName === '(idle)') continue;
    // Dependencies by their package path, wherever node_modules really is (it may be a link).
    const file = frame.url
      .replace(/^file:\/\//, '')
      .replace(root, '')
      .replace(/^.*\/node_modules\//, 'node_modules/');
    // Positions are in the code V8 ran: Node's type stripping keeps lines and columns; code a loader
    // compiled (tsx puts a module on one line) has only the column to tell its functions apart.
    const key = file ? `${frame.functionName || '(anonymous)'} (${file}:${frame.lineNumber + 1}:${frame.columnNumber + 1})` : frame.functionName || '(native)';
    self.set(key, (self.get(key) ?? 0) + micros);
    busy += micros;
  }
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([frame, micros]) => ({ frame, selfMs: Math.round(micros / 100) / 10, percent: Math.round((micros / Math.max(1, busy)) * 1000) / 10 }));
}
