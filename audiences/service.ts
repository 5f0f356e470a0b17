import type { Upstreams } from '../cache/loaders.ts';
import type { SourceGuard } from '../cache/guard.ts';
import type { AudienceSource } from '../sources/audience.ts';
import type { AudienceOrder, AudiencePage, AudiencePosition, Breakdown, CommerceAudience, HistogramInterval, HistogramOf } from '../sources/commerce/audience.ts';
import { EmailSubscriptionStatus, LifecycleStage } from '../resolvers/enums.ts';
import type { FilterNode } from './filter.ts';
import { asClientError, DEFAULT_PLANNER_LIMITS, isRefusal, Planner, type PlannerLimits, type PlanReport } from './planner.ts';
import { badUserInput } from '../resolvers/errors.ts';
import type { Predicate } from '../sources/commerce/audience.ts';
import type { AudienceStore } from './store.ts';

/** A count and whether every source it rests on counted exactly. */
export interface CountResult {
  readonly value: number;
  readonly exact: boolean;
}

/** A page of `findCustomers` (or an audience's members), its count computed only when asked for. */
export interface CustomerListModel {
  readonly order: AudienceOrder;
  /** Whether the page starts after a cursor. */
  readonly hasPreviousPage: boolean;
  page(): Promise<AudiencePage>;
  totalCount(): Promise<CountResult>;
}

export type CountDimension = Breakdown | 'LIFECYCLE_STAGE' | 'EMAIL_STATUS' | 'FIRST_TOUCH_MEDIUM';

export interface CountsModel {
  readonly total: CountResult;
  readonly groups: ReadonlyArray<{ readonly key: string | null; readonly count: number; readonly exact: boolean }>;
}

/** How long a request asking an audience question may take by default: plans page through sources. */
export const DEFAULT_AUDIENCE_BUDGET_MS = 30_000;

/** What the audience fields need, built once per server. */
export interface AudienceRuntime {
  readonly upstreams: Upstreams;
  readonly store: AudienceStore;
  readonly limits?: PlannerLimits;
}

/** One request's side: its deadline, its budget and where its plans are reported. */
export interface AudienceRequest {
  /**
   * The request's deadline for an analyst's question: longer than a profile read's (a plan may
   * page through a source), and from then on the whole request's, so the page's customers are
   * read within it too.
   */
  readonly extendDeadline: () => number;
  readonly spend?: (cost: number) => Promise<void>;
  readonly report: (plan: PlanReport) => void;
}

/** The audience questions of one request (resolvers/audiences.ts). */
export class AudienceQueries {
  constructor(
    private readonly runtime: AudienceRuntime,
    private readonly request: AudienceRequest,
  ) {}

  /** The analyst's deadline, from the first question of the request on. */
  private get deadline(): number {
    return this.request.extendDeadline();
  }

  get store(): AudienceStore {
    return this.runtime.store;
  }

  /** A page of the customers matching `filter`, in `order`, after `after`. */
  list(field: string, filter: FilterNode, order: AudienceOrder, after: AudiencePosition | null, first: number): CustomerListModel {
    const { planner, commerce } = this.planner(field, filter);
    const predicate = once(() => guard(planner.compile(filter)));
    return {
      order,
      hasPreviousPage: after !== null,
      page: once(async () => {
        const where = await predicate();
        return guard(planner.select('select', 'page', () => commerce.page(where, order, after, first)));
      }),
      totalCount: once(() => countOf(planner, commerce, filter, predicate)),
    };
  }

  /** The count of `filter`, and per value of `by`. */
  async counts(field: string, filter: FilterNode, by: CountDimension): Promise<CountsModel> {
    const { planner, commerce } = this.planner(field, filter);
    const total = await countOf(planner, commerce, filter);
    if (by === 'RFM_SEGMENT' || by === 'TOP_CATEGORY') {
      const where = await guard(planner.compile(filter));
      const groups = await guard(planner.select('select', `breakdown by ${by}`, () => commerce.breakdown(where, by)));
      return { total, groups: groups.filter((g) => g.count > 0).map((g) => ({ ...g, exact: total.exact })) };
    }
    if (by === 'FIRST_TOUCH_MEDIUM') return { total, groups: await this.mediums(planner, commerce, filter, total) };
    const values = by === 'LIFECYCLE_STAGE' ? LifecycleStage : EmailSubscriptionStatus;
    const groups: Array<{ key: string | null; count: number; exact: boolean }> = [];
    // The filter is compiled once: each value's condition is planned within it, so the shop's
    // candidates are read once for all the values.
    const where = total.exact ? await guard(planner.compile(filter)) : null;
    for (const [key, value] of Object.entries(values)) {
      const leaf: FilterNode =
        by === 'LIFECYCLE_STAGE' ? { kind: 'crm', condition: { lifecycleStages: [value] } } : { kind: 'email', condition: { statuses: [value as EmailSubscriptionStatus] } };
      const within = where && (() => planner.compileWithin(leaf, where));
      const group = await countOf(planner, commerce, both(filter, leaf), within ?? undefined, key);
      if (group.value > 0) groups.push({ key, count: group.value, exact: group.exact });
    }
    // The rest: customers the system does not hold (exact only when every group was).
    const grouped = groups.reduce((sum, group) => sum + group.count, 0);
    const exact = total.exact && groups.every((group) => group.exact);
    if (total.value > grouped) groups.push({ key: null, count: total.value - grouped, exact });
    return { total, groups };
  }

  /** Whether one customer is in the audience of `filter` now. */
  async contains(field: string, filter: FilterNode, customerId: string): Promise<boolean> {
    const { planner } = this.planner(field, filter);
    return guard(planner.contains(filter, customerId));
  }

  async histogram(field: string, filter: FilterNode, of: HistogramOf, interval: HistogramInterval, window: { since: Date; until: Date }) {
    const { planner, commerce } = this.planner(field, filter);
    const where = await guard(planner.compile(filter));
    return guard(planner.select('select', `histogram of ${of} per ${interval}`, () => commerce.histogram(where, of, interval, window)));
  }

  /** First-touch mediums of the matching customers: their ids, then one warehouse statement. */
  private async mediums(planner: Planner, commerce: CommerceAudience, filter: FilterNode, total: CountResult) {
    const limit = (this.runtime.limits ?? DEFAULT_PLANNER_LIMITS).maxCandidates;
    if (total.value > limit || !total.exact) {
      throw badUserInput(`by: FIRST_TOUCH_MEDIUM reads the matching customers' ids, at most ${limit}; ${total.value} match: narrow the filter`, 'by');
    }
    const where = await guard(planner.compile(filter));
    const ids = await guard(planner.select('select', 'ids for FIRST_TOUCH_MEDIUM', () => commerce.keys(where, 'customerId', limit)));
    const { sources, guards } = this.runtime.upstreams;
    const counts = await planner.external('web', 'first-touch mediums', (tally) =>
      guards.web.run((signal) => sources.web.audience.firstTouchMediums(ids, tally, signal), this.deadline),
    );
    const grouped = [...counts].filter(([, count]) => count > 0).map(([key, count]) => ({ key, count, exact: total.exact }));
    const known = grouped.reduce((sum, group) => sum + group.count, 0);
    const none = grouped.find((group) => group.key === null);
    if (!none && total.value > known) grouped.push({ key: null, count: total.value - known, exact: total.exact });
    else if (none) none.count += total.value - known;
    return grouped;
  }

  /** A planner for one field, its report in the response from now on. */
  private planner(field: string, filter: FilterNode): { planner: Planner; commerce: CommerceAudience } {
    const { upstreams } = this.runtime;
    // The observer is the planner's, and the planner needs the statements: tied through a late binding.
    let planner: Planner | null = null;
    const commerce = guardedCommerce(
      upstreams.sources.commerce.audience((rows) => planner?.commerceObserver(rows)),
      upstreams.guards.commerce,
      this.deadline,
    );
    planner = new Planner({
      field,
      filter,
      sources: { commerce, crm: this.guarded('crm'), email: this.guarded('email'), web: this.guarded('web') },
      env: commerce.env,
      ...(this.runtime.limits && { limits: this.runtime.limits }),
      ...(this.request.spend && { spend: this.request.spend }),
      signal: new AbortController().signal,
    });
    this.request.report(planner.report);
    return { planner, commerce };
  }

  private guarded<C>(source: 'crm' | 'email' | 'web'): AudienceSource<C> {
    const { sources, guards } = this.runtime.upstreams;
    return guardedSource(sources[source].audience as AudienceSource<C>, guards[source], this.deadline);
  }
}

/** Every call of an audience source through the source's guard (breaker, bulkhead) and the request's deadline. */
function guardedSource<C>(source: AudienceSource<C>, guard: SourceGuard, deadline: number): AudienceSource<C> {
  return {
    key: source.key,
    estimate: (condition, tally) => guard.run((signal) => source.estimate(condition, tally, signal), deadline),
    enumerationCalls: (condition, estimated) => source.enumerationCalls(condition, estimated),
    enumerate: (condition, tally) => guard.run((signal) => source.enumerate(condition, tally, signal), deadline),
    checkCalls: (condition, candidates) => source.checkCalls(condition, candidates),
    check: (condition, candidates, tally) => guard.run((signal) => source.check(condition, candidates, tally, signal), deadline),
  };
}

function guardedCommerce(commerce: CommerceAudience, guard: SourceGuard, deadline: number): CommerceAudience {
  return {
    env: commerce.env,
    count: (predicate) => guard.run(() => commerce.count(predicate), deadline),
    keys: (predicate, key, limit) => guard.run(() => commerce.keys(predicate, key, limit), deadline),
    page: (predicate, order, after, first) => guard.run(() => commerce.page(predicate, order, after, first), deadline),
    breakdown: (predicate, by) => guard.run(() => commerce.breakdown(predicate, by), deadline),
    histogram: (predicate, of, interval, window) => guard.run(() => commerce.histogram(predicate, of, interval, window), deadline),
  };
}

/** A source's own refusal reaches the client as BAD_USER_INPUT; everything else as it is. */
async function guard<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw asClientError(error);
  }
}

/**
 * How many customers match `filter`: one statement over the compiled filter (exact). When the plan
 * is refused and the filter is one condition of another source, that source's own count instead,
 * flagged estimated (it counts its records, e.g. HubSpot contacts the shop may not have).
 */
async function countOf(planner: Planner, commerce: CommerceAudience, filter: FilterNode, compiled?: () => Promise<Predicate>, label = 'total'): Promise<CountResult> {
  try {
    const where = await guard(compiled ? compiled() : planner.compile(filter));
    return { value: await guard(planner.select('count', label, () => commerce.count(where))), exact: true };
  } catch (error) {
    if (!isRefusal(error)) throw error;
    const estimate = await guard(planner.estimateAlone(filter));
    if (!estimate) throw error;
    return { value: estimate.count, exact: false };
  }
}

/** `a` and `b`, without an empty `all` (so a lone condition stays recognisable). */
function both(a: FilterNode, b: FilterNode): FilterNode {
  if (a.kind === 'all' && a.of.length === 0) return b;
  return { kind: 'all', of: [a, b] };
}

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | null = null;
  return () => (made ??= make());
}
