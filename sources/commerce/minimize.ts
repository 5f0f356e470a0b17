import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Nelder-Mead: derivative-free minimization of a function of a few variables, for the CLV fits
 * (clv-fit.ts). Written here because no maintained optimizer exists on npm for Node (fmin's
 * published build exports nothing under ESM and its shrink step throws in strict mode;
 * optimization-js ships build tools as runtime dependencies; nlopt-js is a 2020 WebAssembly
 * bundle). It follows the textbook method as in SciPy's
 * `minimize(method="Nelder-Mead")`: reflection 1, expansion 2, contraction 1/2, shrink 1/2. It
 * stops when the simplex and its values agree to the tolerances, or when the best value has
 * improved by less than `fTolerance` over the last `stallIterations` (a likelihood whose maximum
 * lies at infinity along a ridge, such as Gamma-Gamma on spend without heterogeneity, never
 * collapses the simplex; past that point the remaining gain is below the tolerance anyway).
 *
 * Async only to be fair to the event loop: a fit over a large shop evaluates a likelihood over
 * hundreds of thousands of rows hundreds of times, so an evaluation that would start more than
 * `yieldEveryMs` after the last turn first gives the event loop a turn.
 */
export interface MinimizeOptions {
  /** The initial simplex: x0 plus `step` along each axis. */
  readonly step?: number;
  /** Stop when every vertex is within this of the best, coordinate by coordinate... */
  readonly xTolerance?: number;
  /** ...and every vertex's value within this of the best value. */
  readonly fTolerance?: number;
  readonly maxEvaluations?: number;
  /** Iterations without an improvement of `fTolerance` after which the search stops (default 20 per dimension). */
  readonly stallIterations?: number;
  /** Longest stretch of work without giving the event loop a turn. */
  readonly yieldEveryMs?: number;
}

export interface Minimum {
  readonly x: number[];
  readonly fx: number;
  readonly evaluations: number;
  /** False when `maxEvaluations` ran out first; true when the simplex collapsed or the search stalled. */
  readonly converged: boolean;
}

interface Vertex {
  x: number[];
  fx: number;
}

/**
 * The minimum of `f` near `x0`. `f` may return Infinity or NaN where it is undefined (both count as
 * +Infinity, so the simplex moves away). Never throws on its own account; rethrows what `f` throws.
 */
export async function nelderMead(f: (x: readonly number[]) => number, x0: readonly number[], options: MinimizeOptions = {}): Promise<Minimum> {
  const step = options.step ?? 0.5;
  const xTolerance = options.xTolerance ?? 1e-8;
  const fTolerance = options.fTolerance ?? 1e-10;
  const maxEvaluations = options.maxEvaluations ?? 4000;
  const stallIterations = options.stallIterations ?? 20 * x0.length;
  const yieldEveryMs = options.yieldEveryMs ?? 20;
  const n = x0.length;
  let evaluations = 0;
  let turnStarted = performance.now();
  const value = async (x: number[]): Promise<Vertex> => {
    if (performance.now() - turnStarted > yieldEveryMs) {
      await nextTurn();
      turnStarted = performance.now();
    }
    evaluations++;
    const fx = f(x);
    return { x, fx: Number.isNaN(fx) ? Infinity : fx };
  };
  const along = (from: readonly number[], to: readonly number[], t: number) => from.map((v, i) => v + t * (to[i]! - v));

  const simplex: Vertex[] = [await value([...x0])];
  for (let i = 0; i < n; i++) simplex.push(await value(x0.map((v, j) => (j === i ? v + step : v))));
  let stalled = 0;
  let bestSoFar = Infinity;

  while (evaluations < maxEvaluations) {
    simplex.sort((p, q) => p.fx - q.fx);
    const best = simplex[0]!;
    const worst = simplex[n]!;
    stalled = best.fx < bestSoFar - fTolerance ? 0 : stalled + 1;
    bestSoFar = Math.min(bestSoFar, best.fx);
    const spread = Math.max(...simplex.slice(1).map((v) => Math.max(...v.x.map((c, i) => Math.abs(c - best.x[i]!)))));
    const fSpread = Math.max(...simplex.slice(1).map((v) => Math.abs(v.fx - best.fx)));
    if ((spread <= xTolerance && fSpread <= fTolerance) || stalled > stallIterations) {
      return { x: best.x, fx: best.fx, evaluations, converged: true };
    }

    const centroid = x0.map((_, i) => simplex.slice(0, n).reduce((sum, v) => sum + v.x[i]!, 0) / n);
    // Points on the line from the centroid through the worst vertex: t = -1 reflects it, -2
    // expands, -1/2 and +1/2 contract outside and inside.
    const reflected = await value(along(centroid, worst.x, -1));
    if (reflected.fx < best.fx) {
      const expanded = await value(along(centroid, worst.x, -2));
      simplex[n] = expanded.fx < reflected.fx ? expanded : reflected;
    } else if (reflected.fx < simplex[n - 1]!.fx) {
      simplex[n] = reflected;
    } else {
      const outside = reflected.fx < worst.fx;
      const contracted = await value(along(centroid, worst.x, outside ? -0.5 : 0.5));
      if (contracted.fx < (outside ? reflected.fx : worst.fx)) simplex[n] = contracted;
      else for (let i = 1; i <= n; i++) simplex[i] = await value(along(best.x, simplex[i]!.x, 0.5));
    }
  }
  simplex.sort((p, q) => p.fx - q.fx);
  return { x: simplex[0]!.x, fx: simplex[0]!.fx, evaluations, converged: false };
}
