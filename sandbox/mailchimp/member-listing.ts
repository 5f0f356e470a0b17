import { personAt, populationSize, type DemoWorld, type MemberStatus } from '../demo/people.ts';
import { isMember } from './members.ts';

/** Every status Mailchimp lists members by; the demo world has no archived members. */
export const LIST_STATUSES = ['subscribed', 'unsubscribed', 'cleaned', 'pending', 'transactional', 'archived'] as const;
export type ListStatus = (typeof LIST_STATUSES)[number];

/** People per build step: the walk yields between steps so the stand-in keeps answering. */
const CHUNK_SIZE = 4096;

const STATUS_CODE = new Map<ListStatus, number>(LIST_STATUSES.map((status, code) => [status, code]));

interface Built {
  /** Person index of every audience member, ascending: the listing's stable order. */
  readonly indices: Uint32Array;
  /** Each member's opt-in time in whole seconds (Mailchimp's precision), at the same position. */
  readonly optIn: Float64Array;
  /** Each member's status code (LIST_STATUSES position) as the world generated it. */
  readonly status: Uint8Array;
  /** Positions (into `indices`) of the members of each status as generated, ascending. */
  readonly byStatus: ReadonlyMap<ListStatus, Uint32Array>;
}

export interface ListingQuery {
  /** Only members of this status; every member when absent. */
  readonly status?: ListStatus;
  /** Opt-in second at or after this (epoch seconds). */
  readonly sinceOptIn?: number;
  /** Opt-in second before this (epoch seconds). */
  readonly beforeOptIn?: number;
  readonly count: number;
  readonly offset: number;
}

export interface ListingPage {
  /** Every member matching the query, not only this page's. */
  readonly total: number;
  /** Person indices of the page's members, in listing order. */
  readonly indices: readonly number[];
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The audience's members by status, for `GET /lists/{list_id}/members`: built once, on the first
 * listing, by walking the whole world (one personAt per person, yielding between chunks), then
 * kept. Memory: 13 bytes per member plus 4 per member of each status list (~17 MB for a
 * 1,000,000-customer world). A listing then costs one pass over the status's members (typed
 * arrays, no person regenerated) plus one person per member on the page. Statuses changed since
 * (setStatus) are passed in per query, so the index itself never changes.
 */
export class MemberListing {
  private built: Promise<Built> | undefined;

  constructor(private readonly world: DemoWorld) {}

  /** The page of members matching `query`; `overrides` maps person index to a changed status. */
  async page(query: ListingQuery, overrides: ReadonlyMap<number, MemberStatus>): Promise<ListingPage> {
    const built = await (this.built ??= this.build());
    const wanted = query.status === undefined ? undefined : STATUS_CODE.get(query.status)!;
    const since = query.sinceOptIn ?? Number.NEGATIVE_INFINITY;
    const before = query.beforeOptIn ?? Number.POSITIVE_INFINITY;
    const changed = new Map<number, number>();
    if (overrides.size > 0) {
      const positions = positionsOf(built.indices, [...overrides.keys()]);
      for (const [index, position] of positions) changed.set(position, STATUS_CODE.get(overrides.get(index)!)!);
    }
    const end = query.offset + query.count;
    const indices: number[] = [];
    let total = 0;
    const visit = (position: number): void => {
      const status = changed.get(position) ?? built.status[position]!;
      if (wanted !== undefined && status !== wanted) return;
      const optIn = built.optIn[position]!;
      if (optIn < since || optIn >= before) return;
      if (total >= query.offset && total < end) indices.push(built.indices[position]!);
      total++;
    };
    if (wanted === undefined) {
      for (let p = 0; p < built.indices.length; p++) visit(p);
    } else {
      // Members changed into the wanted status join its list in index (= position) order.
      const list = built.byStatus.get(query.status!)!;
      const joined = [...changed].filter(([p, s]) => s === wanted && built.status[p] !== wanted).map(([p]) => p);
      if (joined.length === 0) for (const p of list) visit(p);
      else
        for (const p of mergeAscending(
          list,
          joined.sort((a, b) => a - b),
        ))
          visit(p);
    }
    return { total, indices };
  }

  private async build(): Promise<Built> {
    const size = populationSize(this.world);
    const indices: number[] = [];
    const optIn: number[] = [];
    const status: number[] = [];
    for (let first = 0; first < size; first += CHUNK_SIZE) {
      await yieldToEventLoop();
      for (let i = first; i < Math.min(size, first + CHUNK_SIZE); i++) {
        const person = personAt(this.world, i);
        if (!isMember(person)) continue;
        indices.push(i);
        optIn.push(Math.floor(person.emailMarketing.optInAt.getTime() / 1000));
        status.push(STATUS_CODE.get(person.emailMarketing.status)!);
      }
    }
    const byStatus = new Map<ListStatus, Uint32Array>();
    for (const [name, code] of STATUS_CODE) {
      const positions: number[] = [];
      status.forEach((s, p) => s === code && positions.push(p));
      byStatus.set(name, Uint32Array.from(positions));
    }
    return { indices: Uint32Array.from(indices), optIn: Float64Array.from(optIn), status: Uint8Array.from(status), byStatus };
  }
}

/** Position in `sorted` of each of `wanted` that is there (people who are not members are skipped). */
function positionsOf(sorted: Uint32Array, wanted: readonly number[]): Map<number, number> {
  const found = new Map<number, number>();
  for (const index of wanted) {
    let low = 0;
    let high = sorted.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (sorted[mid]! < index) low = mid + 1;
      else high = mid;
    }
    if (sorted[low] === index) found.set(index, low);
  }
  return found;
}

/** The union of two ascending sequences, ascending (values are distinct across them). */
function* mergeAscending(a: Uint32Array, b: readonly number[]): Generator<number> {
  let j = 0;
  for (const value of a) {
    while (j < b.length && b[j]! < value) yield b[j++]!;
    yield value;
  }
  while (j < b.length) yield b[j++]!;
}
