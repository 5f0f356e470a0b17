import { AsyncLocalStorage } from 'node:async_hooks';
import { GraphQLError } from 'graphql';
import { AudienceRefused, type AudienceSource, type CrmCondition, type EmailCondition, type Estimate, type Tally, type WebCondition } from '../sources/audience.ts';
import { allOf, anyOf, keyIn, not, TRUE, commercePredicate, type CommerceAudience, type CommerceEnvironment, type Predicate } from '../sources/commerce/audience.ts';
import { ErrorCode } from '../resolvers/errors.ts';
import { describe, fieldsOf, type ExternalLeaf, type ExternalSource, type FilterNode } from './filter.ts';

/**
 * Plans and runs a filter across sources (docs/audiences.md). Each condition runs where its data
 * lives: the shop's as SQL, the others pushed down to their system through its AudienceSource. The
 * filter compiles to one predicate over the shop's customers, in which another source's condition
 * is the set of people it answered, either
 * - enumerated: every person the source says meets it, in as few calls as the source pages; or
 * - checked: the source asked about the candidates only, the customers meeting everything already
 *   compiled around the condition (its context), when there are fewer calls that way.
 * Conditions of an `and` are taken from the most selective the sources can estimate, so the
 * candidates shrink before the dearest ones. A condition neither way can answer within its limit
 * is refused, naming what to narrow. Each step's cost is computed before it runs and spent from the
 * client's budget.
 *
 * Correctness: `compile(node, context)` returns a predicate equal to `node` on every customer who
 * meets `context`. Checked answers are exact there (every candidate was asked), so `not` of them
 * is exact too, and an `and` compiles each part in the context of the parts before it.
 */

/** What a planner reads: the shop's statements and the other sources' push-down. */
export interface PlannerSources {
  readonly commerce: CommerceAudience;
  readonly crm: AudienceSource<CrmCondition>;
  readonly email: AudienceSource<EmailCondition>;
  readonly web: AudienceSource<WebCondition>;
}

export interface PlannerLimits {
  /** Upstream calls one condition may take (enumerating or checking), per source. */
  readonly maxCalls: Readonly<Record<ExternalSource, number>>;
  /** The most candidates a condition is checked for, whatever the calls: the ids travel in one statement. */
  readonly maxCandidates: number;
  /** Budget points per upstream call to HubSpot or Mailchimp, and per SQL statement. */
  readonly costPerCall: number;
  readonly costPerStatement: number;
}

export const DEFAULT_PLANNER_LIMITS: PlannerLimits = {
  maxCalls: { crm: 50, email: 500, web: 1 },
  maxCandidates: 100_000,
  costPerCall: 10,
  costPerStatement: 2,
};

/**
 * The step a commerce statement belongs to (steps of one plan may run at once: a page and its
 * count). One for the process: a step is one planner's, and only its own statements run inside it.
 */
const CURRENT_STEP = new AsyncLocalStorage<PlanStep>();

/** One step of a plan, as `extensions.plans` shows it: what ran where, at what cost. No values, no people. */
export interface PlanStep {
  readonly source: ExternalSource | 'commerce';
  readonly action: 'estimate' | 'count' | 'candidates' | 'enumerate' | 'check' | 'select';
  /** The condition, by source and field names. */
  readonly condition: string;
  /** Upstream calls (HTTP requests or SQL statements) and the rows or records they returned. */
  calls: number;
  rows: number;
  /** For an estimate: the count and whether the source said it exactly. */
  estimate?: Estimate;
  /** For a check: how many candidates were asked about. */
  candidates?: number;
  /** The people the step's answer holds (an enumeration's or check's matches). */
  matched?: number;
  ms: number;
}

/** A plan as it runs: its steps and the calls and rows per source so far (read when the response goes out). */
export interface PlanReport {
  /** The field's response path (its alias when it has one). */
  readonly field: string;
  /** The filter, by sources and field names. */
  readonly filter: string;
  readonly steps: readonly PlanStep[];
  readonly calls: Readonly<Record<string, number>>;
  readonly rows: Readonly<Record<string, number>>;
}

export interface PlannerOptions {
  /** What the report names: the field's response path, and the filter. */
  readonly field: string;
  readonly filter: FilterNode;
  readonly sources: PlannerSources;
  readonly env: CommerceEnvironment;
  readonly limits?: PlannerLimits;
  /** Spends a step's cost from the client's budget; rejects (RATE_LIMITED) when spent. */
  readonly spend?: (cost: number) => Promise<void>;
  readonly signal: AbortSignal;
}

/**
 * One request's planner: estimates and enumerations are remembered for the request, so a breakdown
 * that runs the filter once per group asks each source once. The commerce statements report into
 * the step under way (see `commerceObserver`).
 */
export class Planner {
  private readonly limits: PlannerLimits;
  private readonly estimates = new Map<string, Promise<Estimate>>();
  private readonly enumerations = new Map<string, Promise<ReadonlySet<string>>>();
  private readonly keys = new Map<Predicate, Map<string, Promise<string[]>>>();
  private readonly steps: PlanStep[] = [];
  /** This plan's report, live: it grows as steps run, and is read when the response goes out. */
  readonly report: PlanReport;
  /** Set by `contains`: the context is one customer, so every condition is checked for them alone. */
  private onePerson = false;

  constructor(private readonly options: PlannerOptions) {
    this.limits = options.limits ?? DEFAULT_PLANNER_LIMITS;
    const steps = this.steps;
    const total = (of: 'calls' | 'rows') => {
      const sums: Record<string, number> = {};
      for (const step of steps) sums[step.source] = (sums[step.source] ?? 0) + step[of];
      return sums;
    };
    this.report = {
      field: options.field,
      filter: describe(options.filter),
      steps,
      get calls() {
        return total('calls');
      },
      get rows() {
        return total('rows');
      },
    };
  }

  /** Where the commerce statements of this planner report (pass to commerceAudience). */
  readonly commerceObserver = (rows: number): void => {
    const step = CURRENT_STEP.getStore();
    if (!step) return;
    step.calls += 1;
    step.rows += rows;
  };

  /** The filter as one predicate over the shop's customers (running what it needs in the other sources). */
  async compile(node: FilterNode): Promise<Predicate> {
    return this.compileIn(node, TRUE);
  }

  /**
   * `node` among the customers meeting `context` (an already compiled filter): the predicate of
   * both, planned as `and` would plan `node` after the filter's parts, reusing what was read for it.
   */
  async compileWithin(node: FilterNode, context: Predicate): Promise<Predicate> {
    return allOf([context, await this.compileIn(node, context)]);
  }

  /**
   * Whether one customer meets the filter: every other source's condition is checked for that one
   * person (no estimates, no listings), then one statement. What a subscription asks on each change.
   */
  async contains(node: FilterNode, customerId: string): Promise<boolean> {
    this.onePerson = true;
    const context = keyIn('customerId', new Set([customerId]));
    const predicate = await this.compileIn(node, context);
    return (await this.select('count', 'membership', () => this.options.sources.commerce.count(allOf([context, predicate])))) > 0;
  }

  /**
   * The source's own count for a filter that is one condition of another source, when listing its
   * people would be refused: an estimate (its records, which may include people the shop does not
   * have), or null when the filter is not such a condition.
   */
  async estimateAlone(node: FilterNode): Promise<Estimate | null> {
    const only = node.kind === 'all' && node.of.length === 1 ? node.of[0]! : node;
    if (only.kind !== 'crm' && only.kind !== 'email' && only.kind !== 'web') return null;
    const estimate = await this.estimate(only);
    return { count: estimate.count, exact: false };
  }

  /** Runs another call to a source as a step of the plan (a breakdown's), spending one call's cost. */
  async external<T>(source: ExternalSource, condition: string, run: (tally: Tally) => Promise<T>): Promise<T> {
    await this.spend(this.limits.costPerCall);
    return this.step({ source, action: 'select', condition }, (tally) => run(tally));
  }

  /** Runs a commerce statement as a step of the plan (a page, a count, a breakdown). */
  async select<T>(action: 'count' | 'select', condition: string, run: () => Promise<T>): Promise<T> {
    await this.spend(this.limits.costPerStatement);
    return this.step({ source: 'commerce', action, condition }, run);
  }

  private async compileIn(node: FilterNode, context: Predicate): Promise<Predicate> {
    switch (node.kind) {
      case 'commerce':
        return commercePredicate(node.condition, this.options.env);
      case 'any': {
        // One branch after the other: each step's statements are counted to it.
        const branches: Predicate[] = [];
        for (const child of node.of) branches.push(await this.compileIn(child, context));
        return anyOf(branches);
      }
      case 'not':
        return not(await this.compileIn(node.of, context));
      case 'all':
        return this.compileAll(node.of, context);
      default:
        return this.compileExternal(node, context);
    }
  }

  /**
   * The shop's conditions first (they cost nothing until the statement runs), then the other
   * sources' from the fewest people estimated, then nested ors and nots, each in the context of all
   * the parts before it.
   */
  private async compileAll(children: readonly FilterNode[], outer: Predicate): Promise<Predicate> {
    const flat = children.flatMap((child) => (child.kind === 'all' ? child.of : [child]));
    const commerce = flat.filter((child) => child.kind === 'commerce');
    const external = flat.filter((child): child is ExternalLeaf => child.kind === 'crm' || child.kind === 'email' || child.kind === 'web');
    const nested = flat.filter((child) => child.kind === 'any' || child.kind === 'not');
    const parts: Predicate[] = [];
    for (const child of commerce) parts.push(await this.compileIn(child, outer));
    // No estimate where it would not change the plan: for one person (each condition is one check),
    // and for a condition listed in one call whatever its size (the warehouse's: it goes first, as
    // it narrows the candidates of the others for one statement).
    const unestimated = (leaf: ExternalLeaf) => this.onePerson || this.constantCost(leaf);
    const estimates = await Promise.all(external.map((leaf) => (unestimated(leaf) ? Promise.resolve({ count: 0, exact: true }) : this.estimate(leaf))));
    const order = external.map((leaf, i) => ({ leaf, estimate: estimates[i]! })).sort((a, b) => a.estimate.count - b.estimate.count);
    for (const { leaf, estimate } of order) parts.push(await this.compileExternal(leaf, allOf([outer, ...parts]), estimate));
    for (const child of nested) parts.push(await this.compileIn(child, allOf([outer, ...parts])));
    return allOf(parts);
  }

  private async compileExternal(leaf: ExternalLeaf, context: Predicate, known?: Estimate): Promise<Predicate> {
    const source = this.source(leaf);
    if (this.onePerson) {
      const keys = await this.candidates(context, source.key, 1);
      return keyIn(source.key, await this.check(leaf, keys, source.checkCalls(leaf.condition, keys.length)));
    }
    const name = describe(leaf);
    const estimate = known ?? (this.constantCost(leaf) ? { count: 0, exact: true } : await this.estimate(leaf));
    const enumerationCalls = source.enumerationCalls(leaf.condition, estimate.count);
    const maxCalls = this.limits.maxCalls[leaf.kind];
    const memo = this.enumerations.get(key(leaf));
    if (memo) return keyIn(source.key, await memo);
    const enumerable = enumerationCalls !== null && enumerationCalls <= maxCalls;
    // With nothing around it to narrow the candidates, every customer is one: list the source's people.
    if (context === TRUE && enumerable) return keyIn(source.key, await this.enumerate(leaf, enumerationCalls));
    // The candidates themselves, up to one past the most a check could win with: their number
    // decides, and a check needs them (one statement where a count and then the keys would scan
    // twice; bounded, so a condition listed in a few calls never reads a large shop's candidates).
    const checkable = this.checkable(source, leaf.condition, Math.min(maxCalls, enumerable ? enumerationCalls : maxCalls));
    const keys = await this.candidates(context, source.key, checkable + 1);
    const tooMany = keys.length > checkable;
    const checkCalls = tooMany ? Infinity : source.checkCalls(leaf.condition, keys.length);
    // At equal calls checking wins: it asks about the candidates only (a warehouse statement then
    // reads their index ranges instead of everyone's events).
    if (checkCalls <= maxCalls && (!enumerable || checkCalls <= enumerationCalls)) {
      if (keys.length === 0) return TRUE; // nobody is in the context: the condition does not matter
      return keyIn(source.key, await this.check(leaf, keys, checkCalls));
    }
    if (enumerable) return keyIn(source.key, await this.enumerate(leaf, enumerationCalls));
    throw refused(leaf, name, { estimate, enumerationCalls, candidates: keys.length, tooMany, checkCalls, maxCalls });
  }

  /** The most candidates `source` checks for `condition` within `calls` (and AUDIENCE_MAX_CANDIDATES): checkCalls grows with them. */
  private checkable(source: AudienceSource<object>, condition: object, calls: number): number {
    let [low, high] = [0, this.limits.maxCandidates];
    if (source.checkCalls(condition, high) <= calls) return high;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      if (source.checkCalls(condition, middle) <= calls) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /** Whether listing who meets `leaf` takes one call however many they are (then its estimate would decide nothing). */
  private constantCost(leaf: ExternalLeaf): boolean {
    return this.source(leaf).enumerationCalls(leaf.condition, Number.MAX_SAFE_INTEGER) === 1;
  }

  private estimate(leaf: ExternalLeaf): Promise<Estimate> {
    const memoKey = key(leaf);
    let estimate = this.estimates.get(memoKey);
    if (!estimate) {
      estimate = (async () => {
        await this.spend(this.limits.costPerCall);
        return this.step({ source: leaf.kind, action: 'estimate', condition: describe(leaf) }, async (tally, step) => {
          const found = await this.source(leaf).estimate(leaf.condition, tally, this.options.signal);
          step.estimate = found;
          return found;
        });
      })();
      this.estimates.set(memoKey, estimate);
    }
    return estimate;
  }

  private enumerate(leaf: ExternalLeaf, calls: number): Promise<ReadonlySet<string>> {
    const memoKey = key(leaf);
    let found = this.enumerations.get(memoKey);
    if (!found) {
      found = (async () => {
        await this.spend(calls * this.limits.costPerCall);
        return this.step({ source: leaf.kind, action: 'enumerate', condition: describe(leaf) }, async (tally, step) => {
          const people = await this.source(leaf).enumerate(leaf.condition, tally, this.options.signal);
          step.matched = people.size;
          return people;
        });
      })();
      this.enumerations.set(memoKey, found);
    }
    return found;
  }

  /** Which `leaf` of the customers meeting `keys` meet it: one call or a few to its source. */
  private async check(leaf: ExternalLeaf, keys: readonly string[], calls: number): Promise<ReadonlySet<string>> {
    const source = this.source(leaf);
    await this.spend(calls * this.limits.costPerCall);
    return this.step({ source: leaf.kind, action: 'check', condition: describe(leaf) }, async (tally, step) => {
      step.candidates = keys.length;
      const people = await source.check(leaf.condition, keys, tally, this.options.signal);
      step.matched = people.size;
      return people;
    });
  }

  /** Up to `limit` keys (ids or emails) of the customers meeting `context`: one statement, remembered for the request. */
  private candidates(context: Predicate, by: 'email' | 'customerId', limit: number): Promise<string[]> {
    let byKey = this.keys.get(context);
    if (!byKey) this.keys.set(context, (byKey = new Map<string, Promise<string[]>>()));
    const memoKey = `${by}:${limit}`;
    let found = byKey.get(memoKey);
    if (!found) {
      found = (async () => {
        await this.spend(this.limits.costPerStatement);
        return this.step({ source: 'commerce', action: 'candidates', condition: `candidates by ${by === 'email' ? 'email' : 'id'}` }, () =>
          this.options.sources.commerce.keys(context, by, limit),
        );
      })();
      byKey.set(memoKey, found);
    }
    return found;
  }

  private source(leaf: ExternalLeaf): AudienceSource<object> {
    return this.options.sources[leaf.kind];
  }

  private async spend(cost: number): Promise<void> {
    if (this.options.spend && cost > 0) await this.options.spend(cost);
  }

  /** Runs `work` as a plan step: its calls (through the tally, or the commerce observer) and time are recorded. */
  private async step<T>(fields: Pick<PlanStep, 'source' | 'action' | 'condition'>, work: (tally: Tally, step: PlanStep) => Promise<T>): Promise<T> {
    const step: PlanStep = { ...fields, calls: 0, rows: 0, ms: 0 };
    this.steps.push(step);
    const tally: Tally = {
      call(rows) {
        step.calls += 1;
        step.rows += rows;
      },
    };
    const started = performance.now();
    try {
      return await CURRENT_STEP.run(step, () => work(tally, step));
    } finally {
      step.ms = Math.round((performance.now() - started) * 10) / 10;
    }
  }
}

function key(leaf: ExternalLeaf): string {
  return `${leaf.kind}:${JSON.stringify(leaf.condition)}`;
}

function refused(
  leaf: ExternalLeaf,
  name: string,
  facts: { estimate: Estimate; enumerationCalls: number | null; candidates: number; tooMany: boolean; checkCalls: number; maxCalls: number },
): GraphQLError {
  const system = { crm: 'HubSpot', email: 'Mailchimp', web: 'the warehouse' }[leaf.kind];
  const listing =
    facts.enumerationCalls === null
      ? `${system} cannot list who meets ${fieldsOf(leaf.condition).join(', ')} without one call per person`
      : `listing the ${facts.estimate.count} people ${system} says meet it would take ${facts.enumerationCalls} calls`;
  const checking = facts.tooMany
    ? `the other conditions leave more than the ${facts.candidates - 1} candidates it could check within the limit`
    : `checking the ${facts.candidates} candidates the other conditions leave would take ${facts.checkCalls}`;
  const { tooMany: _, ...shown } = facts;
  return new GraphQLError(
    `The filter's condition ${name} is refused: ${listing}, and ${checking}; the limit is ${facts.maxCalls} calls. ` +
      'Add conditions that narrow the customers (commerce, crm or web), or ask for fewer.',
    {
      extensions: {
        code: ErrorCode.BadUserInput,
        refused: { source: leaf.kind, condition: name, ...shown, checkCalls: Number.isFinite(facts.checkCalls) ? facts.checkCalls : null },
      },
    },
  );
}

/** Whether `error` is a refused plan (the planner's or a source's), as the client sees it. */
export function isRefusal(error: unknown): boolean {
  return error instanceof AudienceRefused || (error instanceof GraphQLError && error.extensions.refused !== undefined);
}

/** A source's own refusal (AudienceRefused) as the client's error. */
export function asClientError(error: unknown): unknown {
  if (error instanceof AudienceRefused) return new GraphQLError(error.message, { extensions: { code: ErrorCode.BadUserInput, refused: { reason: 'source' } } });
  return error;
}
