/**
 * A profile for every visitor (issue 12): on the demo world, in one run,
 *   1. coverage: `visitor(anonymousId:)` for every anonymous id the warehouse holds, checked
 *      against the demo generator's own truth (whose browser each id is, who signed in on it);
 *   2. latency at fixed concurrencies, the same `web` selection for known customers
 *      (`customer(id:)`), unlinked anonymous ids and linked ones (`visitor(anonymousId:)`);
 *   3. SQL statements per request (shop and warehouse apart), for customers with one and with the
 *      most linked browsers, and for anonymous visitors.
 * Writes bench/results/visitors-latest.md and .json; progress goes to stderr.
 *
 *   npm run bench:visitors                         embedded PGlite (one query at a time)
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:visitors
 *
 * Settings (environment): BENCH_CUSTOMERS (3000), BENCH_WEB_DAYS (30: days of events in the
 * warehouse), BENCH_REQUESTS (300 per latency run), BENCH_CONCURRENCIES (10,50), BENCH_HUBSPOT_MS
 * (40), BENCH_MAILCHIMP_MS (60), BENCH_OUT (bench/results). The server runs as bench/run.ts runs
 * it (startBenchServer: default configuration, development anonymous scopes, rate limits off).
 */
import { personAt, populationSize, type DemoWorld } from '../sandbox/demo/people.ts';
import { devicesOf, sharingPartner, webActivityOf } from '../sandbox/demo/warehouse.ts';
import { anonymousIdOf } from '../sandbox/demo/warehouse/ids.ts';
import { DEFAULT_LIMITS } from '../server/auth/limits.ts';
import { loadConfig } from '../server/config.ts';
import { CountingPool, progress } from './lib/environment.ts';
import { benchRun, loadBenchSettings, ms, pct, post, runtimeText, shownSettings, withServer, type machineFacts } from './lib/harness.ts';
import type { LoadResult } from './lib/load-worker.ts';
import { WorkerClient } from './lib/workers.ts';

const env = process.env;
const settings = {
  ...loadBenchSettings(env),
};
/** Visitors per coverage request: as many aliases as the default operation limits allow. */
const BATCH = DEFAULT_LIMITS.maxAliases;
const COVERAGE_IN_FLIGHT = 4;
/** Distinct subjects per single-request SQL count. */
const SAMPLES = 3;
/** How long the shared cache keeps a shop record fresh, at the default configuration. */
const commerceTtl = loadConfig({}).CACHE_TTL_COMMERCE_SECONDS;

// ---------------------------------------------------------------------------------------------
// Ground truth, from the demo generator (never from the warehouse's identifies).

type Kind = 'Customer' | 'UNLINKED' | 'AMBIGUOUS';

interface Truth {
  /** Whose browser it is: the person whose (seed, index, device) made the id, and their customer id (null: a prospect). */
  readonly ownerIndex: number;
  readonly ownerCustomerId: string | null;
  /** The people whose visits used it (two on a shared computer). */
  readonly users: Set<number>;
  /** Customer ids the generator's identify calls tied it to, in the warehouse's window. */
  readonly identifiedAs: Set<string>;
  /** Its events in the window, and those whose consent refused analytics. */
  events: number;
  refused: number;
}

interface World {
  readonly truth: Map<string, Truth>;
  /** Per customer id: the browsers identified as them alone, and those identified as them and someone else. */
  readonly linked: Map<string, string[]>;
  readonly ambiguous: Map<string, string[]>;
  /** Customer ids with any event refusing analytics: their `web` may be withheld (null, fewer statements). */
  readonly refusing: Set<string>;
}

const expectedKind = (truth: Truth): Kind => (truth.identifiedAs.size === 0 ? 'UNLINKED' : truth.identifiedAs.size === 1 ? 'Customer' : 'AMBIGUOUS');

/** Replays every person's web activity as the seeder does (same world, same window). */
function groundTruth(world: DemoWorld, days: number): World {
  const total = populationSize(world);
  const owners = new Map<string, number>();
  for (let index = 0; index < total; index++) {
    personAt(world, index).web.userAgents.forEach((_, device) => owners.set(anonymousIdOf(world.seed, index, device), index));
  }
  const truth = new Map<string, Truth>();
  const refusing = new Set<string>();
  const entry = (anonymousId: string): Truth => {
    let found = truth.get(anonymousId);
    if (!found) {
      const owner = owners.get(anonymousId) ?? -1;
      found = {
        ownerIndex: owner,
        ownerCustomerId: owner >= 0 && owner < world.customers ? String(owner + 1) : null,
        users: new Set(),
        identifiedAs: new Set(),
        events: 0,
        refused: 0,
      };
      truth.set(anonymousId, found);
    }
    return found;
  };
  for (let index = 0; index < total; index++) {
    const person = personAt(world, index);
    // The browsers the visits draw from: a borrowed computer (shared) must be its owner's.
    for (const device of devicesOf(world, person)) if (!owners.has(device.anonymousId)) throw new Error(`browser ${device.anonymousId} of person ${index} has no owner`);
    const activity = webActivityOf(world, person, days);
    for (const visit of activity.visits) {
      if (visit.events.length === 0) continue;
      const found = entry(visit.device.anonymousId);
      found.users.add(index);
      found.events += visit.events.length;
      const refused = visit.events.filter((event) => event.consent?.analytics === false).length;
      found.refused += refused;
      if (refused > 0 && activity.userId !== null) refusing.add(activity.userId);
    }
    for (const identify of activity.identifies) {
      const found = entry(identify.device.anonymousId);
      found.users.add(index);
      found.identifiedAs.add(activity.userId!);
    }
  }
  const linked = new Map<string, string[]>();
  const ambiguous = new Map<string, string[]>();
  const push = (map: Map<string, string[]>, key: string, value: string) => map.set(key, [...(map.get(key) ?? []), value]);
  for (const [anonymousId, t] of truth) {
    for (const customerId of t.identifiedAs) push(t.identifiedAs.size === 1 ? linked : ambiguous, customerId, anonymousId);
  }
  return { truth, linked, ambiguous, refusing };
}

// ---------------------------------------------------------------------------------------------
// GraphQL over HTTP, from this thread (coverage and single-request counts; load goes through the worker).

const WEB = 'web { sessionCount lastSeenAt recentlyViewedProducts(first: 3) { productId } topCategories(first: 3) { category } }';
const KNOWN = `query Known($id: ID!) { customer(id: $id) { ${WEB} } }`;
const VISITOR = `query Visitor($anonymousId: ID!) { visitor(anonymousId: $anonymousId) { ${WEB} } }`;
const knownBody = (id: string) => JSON.stringify({ query: KNOWN, variables: { id } });
const visitorBody = (anonymousId: string) => JSON.stringify({ query: VISITOR, variables: { anonymousId } });

const PROFILE = `fragment P on Visitor {
  __typename
  identification { by link mergedAnonymousIds ambiguousAnonymousIds }
  ... on Customer { id }
  ... on AnonymousVisitor { anonymousId }
}`;

function coverageQuery(ids: readonly string[]): { query: string; variables: Record<string, string> } {
  const definitions = ids.map((_, i) => `$a${i}: ID!`).join(', ');
  const fields = ids.map((_, i) => `  a${i}: visitor(anonymousId: $a${i}) { ...P }`).join('\n');
  return { query: `query Coverage(${definitions}) {\n${fields}\n}\n${PROFILE}`, variables: Object.fromEntries(ids.map((id, i) => [`a${i}`, id])) };
}

interface Profile {
  readonly __typename: 'Customer' | 'AnonymousVisitor';
  readonly identification: { by: string; link: string | null; mergedAnonymousIds: string[] | null; ambiguousAnonymousIds: string[] | null };
  readonly id?: string;
  readonly anonymousId?: string;
}

/** Each id's profile (null: not found), or the error codes its alias got. */
type Answer = { profile: Profile | null; errors: string[] };

async function askAll(url: string, ids: readonly string[]): Promise<Map<string, Answer>> {
  const answers = new Map<string, Answer>();
  const chunks: string[][] = [];
  for (let i = 0; i < ids.length; i += BATCH) chunks.push(ids.slice(i, i + BATCH));
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!;
      const { query, variables } = coverageQuery(chunk);
      const body = await post(url, query, variables);
      chunk.forEach((id, i) => {
        const errors = (body.errors ?? []).filter((e) => e.path?.[0] === `a${i}`).map((e) => e.extensions?.code ?? 'NO_CODE');
        answers.set(id, { profile: (body.data?.[`a${i}`] as Profile | null | undefined) ?? null, errors });
      });
      progress.status(`coverage: ${answers.size} / ${ids.length} anonymous ids`);
    }
  };
  await Promise.all(Array.from({ length: COVERAGE_IN_FLIGHT }, worker));
  return answers;
}

// ---------------------------------------------------------------------------------------------
// 1. Coverage.

interface Coverage {
  readonly warehouseIds: number;
  readonly generatorIds: number;
  readonly onlyInWarehouse: string[];
  readonly onlyInGenerator: string[];
  readonly seconds: number;
  readonly requests: number;
  /** Per expected kind (from the generator): ids, profiles found, of the right kind and link. */
  readonly byKind: Record<Kind, { ids: number; found: number; rightKind: number; errors: number }>;
  readonly notFound: string[];
  /** Of those, the ids whose every event refused analytics in the generator (and no identify call). */
  notFoundAllRefused: number;
  readonly withErrors: Array<{ id: string; codes: string[] }>;
  readonly wrongKind: Array<{ id: string; expected: Kind; got: string }>;
  /** Ids answered as a Customer: how many are the browser owner's, the identified customer's, and merge the generator's browsers. */
  readonly customers: {
    total: number;
    owners: number;
    identified: number;
    identificationRight: number;
    mergeRight: number;
    wrong: Array<{ id: string; got: string; owner: string | null; identifiedAs: string[] }>;
  };
  /** Ids a customer owns and signed in on that did not resolve to them, with the generator's reason. */
  readonly ownedIdentifiedNotCustomer: Array<{ id: string; owner: string; got: string; reason: string }>;
  ownedIdentified: number;
}

async function coverage(url: string, pool: CountingPool, world: DemoWorld, truth: World): Promise<Coverage> {
  const started = performance.now();
  const rows = await pool.pool.query<{ anonymous_id: string }>(
    `SELECT anonymous_id FROM web.pages WHERE anonymous_id IS NOT NULL
     UNION SELECT anonymous_id FROM web.tracks WHERE anonymous_id IS NOT NULL
     UNION SELECT anonymous_id FROM web.identifies WHERE anonymous_id IS NOT NULL`,
  );
  const ids = rows.rows.map((row) => row.anonymous_id).sort();
  const inWarehouse = new Set(ids);
  progress.line(
    `coverage: ${ids.length} distinct anonymous ids in the warehouse, ${truth.truth.size} in the generator; asking ${BATCH} per request, ${COVERAGE_IN_FLIGHT} in flight`,
  );
  const answers = await askAll(url, ids);
  const byKind = Object.fromEntries((['Customer', 'UNLINKED', 'AMBIGUOUS'] as const).map((k) => [k, { ids: 0, found: 0, rightKind: 0, errors: 0 }])) as Coverage['byKind'];
  const result: Omit<Coverage, 'seconds'> = {
    warehouseIds: ids.length,
    generatorIds: truth.truth.size,
    onlyInWarehouse: ids.filter((id) => !truth.truth.has(id)),
    onlyInGenerator: [...truth.truth.keys()].filter((id) => !inWarehouse.has(id)),
    requests: Math.ceil(ids.length / BATCH),
    byKind,
    notFound: [],
    notFoundAllRefused: 0,
    withErrors: [],
    wrongKind: [],
    customers: { total: 0, owners: 0, identified: 0, identificationRight: 0, mergeRight: 0, wrong: [] },
    ownedIdentifiedNotCustomer: [],
    ownedIdentified: 0,
  };
  for (const id of ids) {
    const t = truth.truth.get(id);
    const answer = answers.get(id)!;
    const expected: Kind = t ? expectedKind(t) : 'UNLINKED';
    const kind = byKind[expected];
    kind.ids++;
    if (answer.errors.length > 0) {
      kind.errors++;
      result.withErrors.push({ id, codes: answer.errors });
    }
    const profile = answer.profile;
    if (!profile) {
      result.notFound.push(id);
      if (t && t.identifiedAs.size === 0 && t.events > 0 && t.refused === t.events) result.notFoundAllRefused++;
      continue;
    }
    kind.found++;
    const got = profile.__typename === 'Customer' ? 'Customer' : (profile.identification.link ?? 'null');
    if (got === expected) kind.rightKind++;
    else result.wrongKind.push({ id, expected, got });
    if (t?.ownerCustomerId && t.identifiedAs.has(t.ownerCustomerId)) {
      result.ownedIdentified++;
      if (profile.__typename !== 'Customer' || profile.id !== t.ownerCustomerId) {
        result.ownedIdentifiedNotCustomer.push({
          id,
          owner: t.ownerCustomerId,
          got: profile.__typename === 'Customer' ? `Customer ${profile.id}` : got,
          reason: reasonFor(world, t),
        });
      }
    }
    if (profile.__typename !== 'Customer') continue;
    const c = result.customers;
    c.total++;
    if (profile.id === t?.ownerCustomerId) c.owners++;
    if (t && t.identifiedAs.size === 1 && t.identifiedAs.has(profile.id!)) c.identified++;
    else c.wrong.push({ id, got: profile.id!, owner: t?.ownerCustomerId ?? null, identifiedAs: [...(t?.identifiedAs ?? [])] });
    const { by, link, mergedAnonymousIds, ambiguousAnonymousIds } = profile.identification;
    if (by === 'ANONYMOUS_ID' && link === 'LINKED' && mergedAnonymousIds?.includes(id)) c.identificationRight++;
    const sameSet = (a: readonly string[] | null, b: readonly string[]) => a !== null && a.length === b.length && b.every((x) => a.includes(x));
    if (sameSet(mergedAnonymousIds, truth.linked.get(profile.id!) ?? []) && sameSet(ambiguousAnonymousIds, truth.ambiguous.get(profile.id!) ?? [])) c.mergeRight++;
  }
  return { ...result, seconds: (performance.now() - started) / 1000 };
}

/** Why the generator's world keeps an owned, signed-in browser from its owner. */
function reasonFor(world: DemoWorld, t: Truth): string {
  const others = [...t.identifiedAs].filter((id) => id !== t.ownerCustomerId);
  const partner = sharingPartner(world, t.ownerIndex);
  if (others.length > 0 && partner !== null) return `shared computer: customer ${t.ownerCustomerId} and their partner ${partner + 1} both signed in on it`;
  if (others.length > 0) return `also signed in on by customer(s) ${others.join(', ')}`;
  return 'none in the generator (owner alone signed in on it)';
}

// ---------------------------------------------------------------------------------------------
// 2. Latency.

interface LatencyRow {
  readonly run: string;
  readonly query: 'customer(id:)' | 'visitor(anonymousId:)';
  readonly subjects: string;
  readonly cache: string;
  readonly concurrency: number;
  readonly requests: number;
  readonly distinctIds: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly rps: number;
  readonly webPerRequest: number;
  readonly shopPerRequest: number;
  readonly errorResponses: number;
  readonly errorCodes: Record<string, number>;
  readonly non2xx: number;
}

class Load {
  private readonly worker: WorkerClient;
  private label = '';
  private total = 0;

  constructor(
    private readonly url: string,
    private readonly pool: CountingPool,
  ) {
    this.worker = new WorkerClient(new URL('./lib/load-worker.ts', import.meta.url), (event: { done: number }) =>
      progress.status(`${this.label}: ${event.done} / ${this.total} responses`),
    );
  }

  async measure(
    spec: Pick<LatencyRow, 'run' | 'query' | 'subjects' | 'cache'>,
    connections: number,
    ids: readonly string[],
    bodyOf: (id: string) => string,
    amount = ids.length,
  ): Promise<LatencyRow> {
    await new Promise((resolve) => setTimeout(resolve, 150)); // the previous run's stragglers
    this.label = `${spec.run} c=${connections}`;
    this.total = amount;
    this.pool.reset();
    const result = await this.worker.call<LoadResult>('run', { url: this.url, bodies: ids.map(bodyOf), connections, amount });
    const n = Math.max(1, result.requests);
    const row: LatencyRow = {
      ...spec,
      concurrency: connections,
      requests: result.requests,
      distinctIds: Math.min(new Set(ids).size, amount),
      p50: result.p50,
      p95: result.p95,
      p99: result.p99,
      rps: result.rps,
      webPerRequest: this.pool.statements.web / n,
      shopPerRequest: this.pool.statements.commerce / n,
      errorResponses: result.withErrors,
      errorCodes: result.errorCodes,
      non2xx: result.non2xx + result.timeouts,
    };
    progress.line(
      `${this.label}: ${row.requests} requests over ${row.distinctIds} ids, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms, ${row.rps.toFixed(0)} req/s, ` +
        `warehouse SQL ${row.webPerRequest.toFixed(2)}, shop SQL ${row.shopPerRequest.toFixed(2)} per request` +
        (row.errorResponses || row.non2xx ? `, ${row.errorResponses} with errors ${JSON.stringify(row.errorCodes)}, ${row.non2xx} non-2xx/timeouts` : ''),
    );
    return row;
  }

  /** Sends each body once, unmeasured: fills the shared cache. */
  async prime(ids: readonly string[], bodyOf: (id: string) => string): Promise<void> {
    this.label = 'priming';
    this.total = ids.length;
    await this.worker.call<LoadResult>('run', { url: this.url, bodies: ids.map(bodyOf), connections: 8, amount: ids.length });
  }

  close = () => this.worker.close();
}

/** Hands out ids, each once. */
class Supply {
  private next = 0;
  constructor(
    readonly name: string,
    private readonly ids: readonly string[],
  ) {}
  get left(): number {
    return this.ids.length - this.next;
  }
  take(n: number): string[] {
    const taken = this.ids.slice(this.next, this.next + n);
    this.next += taken.length;
    return taken;
  }
}

interface Pools {
  readonly known: Supply;
  readonly linkedIds: Supply;
  readonly unlinkedIds: Supply;
}

async function latency(load: Load, pools: Pools): Promise<{ rows: LatencyRow[]; notes: string[] }> {
  const rows: LatencyRow[] = [];
  const notes: string[] = [];
  const perRun = Math.min(settings.requests, Math.floor(Math.min(pools.known.left, pools.linkedIds.left) / settings.concurrencies.length));
  if (perRun < settings.requests)
    notes.push(`Requests per run capped at ${perRun} (BENCH_REQUESTS ${settings.requests}): that many never-asked customers with linked browsers per run.`);
  for (const c of settings.concurrencies) {
    progress.line(`latency at concurrency ${c}, ${perRun} requests per run`);
    const known = pools.known.take(perRun);
    const linked = pools.linkedIds.take(perRun);
    const unlinked = pools.unlinkedIds.take(perRun);
    rows.push(await load.measure({ run: 'a. known, cold', query: 'customer(id:)', subjects: 'customers never asked before', cache: 'misses (fills it)' }, c, known, knownBody));
    rows.push(
      await load.measure(
        { run: 'b. anonymous, unlinked', query: 'visitor(anonymousId:)', subjects: 'unlinked anonymous ids', cache: 'none: read live' },
        c,
        unlinked,
        visitorBody,
        perRun,
      ),
    );
    rows.push(
      await load.measure(
        {
          run: 'c. anonymous, linked, cold',
          query: 'visitor(anonymousId:)',
          subjects: 'linked ids of customers never asked before',
          cache: 'customer part misses; id lookup live',
        },
        c,
        linked,
        visitorBody,
      ),
    );
    await load.prime(known, knownBody);
    rows.push(await load.measure({ run: 'a. known, warm', query: 'customer(id:)', subjects: 'the same customers, just asked', cache: 'hits' }, c, known, knownBody));
    await load.prime(linked, visitorBody);
    rows.push(
      await load.measure(
        { run: 'c. anonymous, linked, warm', query: 'visitor(anonymousId:)', subjects: 'the same linked ids, just asked', cache: 'customer part hits; id lookup live' },
        c,
        linked,
        visitorBody,
      ),
    );
  }
  if (pools.unlinkedIds.left === 0) notes.push('Fewer unlinked ids than requests: the last run cycled through them (anonymous reads are live, so repeats are no cache hits).');
  return { rows, notes };
}

// ---------------------------------------------------------------------------------------------
// 3. SQL statements per request.

/** Subjects of one single-request count; `group` pairs the rows that must cost the same whatever the linked browsers. */
interface CountSubjects {
  readonly request: string;
  readonly group: 'customer(id:)' | 'visitor(anonymousId:) of a linked id' | 'anonymous';
  readonly known: boolean;
  readonly ids: Array<{ id: string; linked: number | null }>;
}

interface CountRow {
  readonly request: string;
  readonly group: CountSubjects['group'];
  readonly subjects: string[];
  readonly linkedBrowsers: Array<number | null>;
  readonly web: number[];
  readonly shop: number[];
  readonly kinds: string[];
}

async function statementCounts(url: string, pool: CountingPool, subjects: readonly CountSubjects[]): Promise<CountRow[]> {
  const rows: CountRow[] = [];
  for (const subject of subjects) {
    const row: CountRow = { request: subject.request, group: subject.group, subjects: [], linkedBrowsers: [], web: [], shop: [], kinds: [] };
    for (const { id, linked } of subject.ids) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      pool.reset();
      const body = subject.known ? await post(url, KNOWN, { id }) : await post(url, VISITOR, { anonymousId: id });
      row.web.push(pool.statements.web);
      row.shop.push(pool.statements.commerce);
      row.subjects.push(id);
      row.linkedBrowsers.push(linked);
      const value = body.data?.customer ?? body.data?.visitor;
      row.kinds.push(body.errors?.length ? `errors ${body.errors.map((e) => e.extensions?.code).join(',')}` : value ? (value.web ? 'ok' : 'web null') : 'null');
    }
    progress.line(`statements: ${row.request}: warehouse ${row.web.join(' / ')}, shop ${row.shop.join(' / ')} (${row.kinds.join(', ')})`);
    rows.push(row);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// The run.

/** Splits the world's subjects: a few for the single-request counts, the rest for the latency runs, none asked twice cold. */
function plan(truth: World) {
  const linkedCustomers = [...truth.linked.keys()].sort((a, b) => Number(a) - Number(b));
  const linkCount = (id: string) => truth.linked.get(id)!.length;
  const most = Math.max(...linkedCustomers.map(linkCount));
  const ofKind = (kind: Kind) =>
    [...truth.truth]
      .filter(([, t]) => expectedKind(t) === kind)
      .map(([id]) => id)
      .sort();
  const unlinked = ofKind('UNLINKED');
  // Single-request counts prefer subjects whose browsing no consent answer withholds (else `web`
  // is null after one statement).
  const cleanFirst = (ids: string[], isClean: (id: string) => boolean) => [...ids.filter(isClean), ...ids.filter((id) => !isClean(id))];
  const cleanCustomer = (id: string) => !truth.refusing.has(id);
  const cleanBrowser = (id: string) => truth.truth.get(id)!.refused === 0;
  const one = cleanFirst(
    linkedCustomers.filter((id) => linkCount(id) === 1),
    cleanCustomer,
  );
  const mostLinked = cleanFirst(
    linkedCustomers.filter((id) => linkCount(id) === most),
    cleanCustomer,
  );
  const half = Math.ceil(mostLinked.length / 2);
  const counted = {
    knownOne: one.slice(0, SAMPLES),
    knownMost: mostLinked.slice(0, Math.min(half, SAMPLES)),
    visitorOne: one.slice(SAMPLES, 2 * SAMPLES),
    visitorMost: mostLinked.slice(half, half + SAMPLES),
    unlinked: cleanFirst(unlinked, cleanBrowser).slice(0, SAMPLES),
    ambiguous: cleanFirst(ofKind('AMBIGUOUS'), cleanBrowser).slice(0, SAMPLES),
  };
  const prime = { customer: one[2 * SAMPLES]!, anonymousId: cleanFirst(unlinked, cleanBrowser)[SAMPLES]! };
  const reserved = new Set([...Object.values(counted).flat(), prime.customer, prime.anonymousId]);
  // The latency runs take the rest in id order (a hash order for anonymous ids): consent and
  // not-yet-seen browsers mixed in as they come.
  const rest = linkedCustomers.filter((id) => !reserved.has(id));
  const linked = (id: string) => ({ id: truth.linked.get(id)![0]!, linked: linkCount(id) });
  const customer = (id: string) => ({ id, linked: linkCount(id) });
  const none = (id: string) => ({ id, linked: null });
  return {
    most,
    prime,
    counts: (
      [
        { request: 'customer(id:), 1 linked browser', group: 'customer(id:)', known: true, ids: counted.knownOne.map(customer) },
        { request: `customer(id:), ${most} linked browsers (the most)`, group: 'customer(id:)', known: true, ids: counted.knownMost.map(customer) },
        {
          request: 'visitor(anonymousId:), linked, customer with 1 linked browser',
          group: 'visitor(anonymousId:) of a linked id',
          known: false,
          ids: counted.visitorOne.map(linked),
        },
        {
          request: `visitor(anonymousId:), linked, customer with ${most} linked browsers`,
          group: 'visitor(anonymousId:) of a linked id',
          known: false,
          ids: counted.visitorMost.map(linked),
        },
        { request: 'visitor(anonymousId:), unlinked', group: 'anonymous', known: false, ids: counted.unlinked.map(none) },
        { request: 'visitor(anonymousId:), ambiguous (shared computer)', group: 'anonymous', known: false, ids: counted.ambiguous.map(none) },
      ] satisfies CountSubjects[]
    ).filter((s) => s.ids.length > 0),
    pools: {
      // Only customers with linked browsers: the others' events all carry no user id, so they would read nothing.
      known: new Supply(
        'known',
        rest.filter((_, i) => i % 2 === 0),
      ),
      linkedIds: new Supply(
        'linked',
        rest.filter((_, i) => i % 2 === 1).map((id) => truth.linked.get(id)![0]!),
      ),
      unlinkedIds: new Supply(
        'unlinked',
        unlinked.filter((id) => !reserved.has(id)),
      ),
    } satisfies Pools,
  };
}

function main(): Promise<void> {
  return benchRun('visitors', settings, async ({ world, pool: counting, standIns, facts }) => {
    const truthStarted = performance.now();
    const truth = groundTruth(world, settings.webDays);
    progress.line(
      `replayed the generator for ground truth in ${((performance.now() - truthStarted) / 1000).toFixed(1)} s: ${truth.truth.size} browsers, ${truth.linked.size} customers with linked browsers`,
    );
    const planned = plan(truth);
    // A server of its own for coverage (it fills the shared cache with every linked customer),
    // then a fresh one, empty cache, for the counts and the latency runs.
    const covered = await withServer(counting, standIns, (url) => coverage(url, counting, world, truth));
    progress.line(
      `coverage done in ${covered.seconds.toFixed(1)} s: ${covered.notFound.length} not found, ${covered.wrongKind.length} of the wrong kind, ${covered.customers.wrong.length} wrong customers`,
    );
    const measured = await withServer(counting, standIns, async (url) => {
      // One-time work (the warehouse layout, the first plans) is not any request's.
      await post(url, KNOWN, { id: planned.prime.customer });
      await post(url, VISITOR, { anonymousId: planned.prime.anonymousId });
      const counts = await statementCounts(url, counting, planned.counts);
      const load = new Load(url, counting);
      try {
        return { counts, ...(await latency(load, planned.pools)) };
      } finally {
        await load.close();
      }
    });
    const { startedAt, durationSeconds, machine } = facts();
    const results = {
      startedAt: startedAt.toISOString(),
      durationSeconds,
      machine,
      settings: { ...shownSettings(settings), batch: BATCH },
      coverage: covered,
      latency: measured.rows,
      statements: measured.counts,
      notes: measured.notes,
    };
    const table = markdown({ startedAt, durationSeconds, machine, coverage: covered, latency: measured.rows, counts: measured.counts, notes: measured.notes, most: planned.most });
    return { results, table };
  });
}

// ---------------------------------------------------------------------------------------------
// The report.

const list = (values: ReadonlyArray<number | null>) => (new Set(values).size === 1 ? String(values[0] ?? '-') : values.map((v) => v ?? '-').join(' / '));
const examples = (items: readonly unknown[], n = 3) =>
  items.length === 0
    ? ''
    : ` e.g. ${items
        .slice(0, n)
        .map((x) => JSON.stringify(x))
        .join('; ')}`;

function markdown(r: {
  startedAt: Date;
  durationSeconds: number;
  machine: ReturnType<typeof machineFacts>;
  coverage: Coverage;
  latency: LatencyRow[];
  counts: CountRow[];
  notes: string[];
  most: number;
}): string {
  const { coverage: cov, machine: m } = r;
  const out: string[] = [];
  out.push(`# A profile for every visitor: \`visitor(anonymousId:)\``, '');
  out.push(
    `Run ${r.startedAt.toISOString()}, ${Math.round(r.durationSeconds)} s in all, on ${m.cpus} x ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node} (${runtimeText(m)}); database: ${m.database}; 1-minute load average ${m.loadAverage.map((l) => l.toFixed(1)).join(' at the start, ')} at the end (other work on the machine shows there).`,
  );
  out.push(
    `Demo world: seed 360, ${settings.customers.toLocaleString('en')} customers (+10% prospects), ${settings.webDays} days of events. Server: startBenchServer's configuration (defaults; rate limits off, request budget 5000 ms, development anonymous scopes). Stand-ins: HubSpot ${settings.hubspotMs} ms, Mailchimp ${settings.mailchimpMs} ms (no request here reaches them).`,
    '',
  );

  out.push('## 1. Coverage (every anonymous id the warehouse holds)', '');
  out.push(
    `${cov.warehouseIds} distinct anonymous ids in the warehouse (pages, tracks, identifies); the generator's replay has ${cov.generatorIds}` +
      (cov.onlyInWarehouse.length + cov.onlyInGenerator.length
        ? ` (${cov.onlyInWarehouse.length} only in the warehouse, ${cov.onlyInGenerator.length} only in the generator)`
        : ', the same set') +
      `. Asked ${BATCH} per request (the default alias limit), ${COVERAGE_IN_FLIGHT} requests in flight: ${cov.requests} requests in ${cov.seconds.toFixed(1)} s.`,
    '',
  );
  out.push('| expected (generator) | ids | got a profile | of the expected kind | with errors |', '|---|---:|---:|---:|---:|');
  const names: Record<Kind, string> = {
    Customer: 'Customer (signed in as one customer)',
    UNLINKED: 'AnonymousVisitor UNLINKED (never signed in)',
    AMBIGUOUS: 'AnonymousVisitor AMBIGUOUS (several customers)',
  };
  let ids = 0,
    found = 0,
    right = 0,
    errors = 0;
  for (const kind of ['Customer', 'UNLINKED', 'AMBIGUOUS'] as const) {
    const k = cov.byKind[kind];
    ids += k.ids;
    found += k.found;
    right += k.rightKind;
    errors += k.errors;
    out.push(`| ${names[kind]} | ${k.ids} | ${k.found} (${pct(k.found, k.ids)}) | ${k.rightKind} (${pct(k.rightKind, k.ids)}) | ${k.errors} |`);
  }
  out.push(`| all | ${ids} | ${found} (${pct(found, ids)}) | ${right} (${pct(right, ids)}) | ${errors} |`, '');
  const c = cov.customers;
  out.push(
    `- Resolved to a Customer: ${c.total}; the browser's owner (generator: the person whose device made the id) for ${c.owners} (${pct(c.owners, c.total)}); ` +
      `the customer the generator signed in on it for ${c.identified} (${pct(c.identified, c.total)}); identification \`by ANONYMOUS_ID, link LINKED\` with the id among \`mergedAnonymousIds\` for ${c.identificationRight} (${pct(c.identificationRight, c.total)}); ` +
      `\`mergedAnonymousIds\` and \`ambiguousAnonymousIds\` exactly the generator's for that customer for ${c.mergeRight} (${pct(c.mergeRight, c.total)}).${examples(c.wrong)}`,
  );
  const reasons = new Map<string, number>();
  for (const x of cov.ownedIdentifiedNotCustomer) {
    const key = `${x.got}: ${x.reason.replace(/\d+/g, 'N')}`;
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
  }
  out.push(
    `- Browsers a customer owns and signed in on: ${cov.ownedIdentified}; not resolved to their owner: ${cov.ownedIdentifiedNotCustomer.length}` +
      (reasons.size ? ` (${[...reasons].map(([reason, n]) => `${n} ${reason}`).join('; ')})` : '') +
      `.${examples(cov.ownedIdentifiedNotCustomer, 1)}`,
  );
  if (cov.notFound.length) {
    out.push(
      `- **Not found (null)**: ${cov.notFound.length}, of which ${cov.notFoundAllRefused} are unlinked browsers every one of whose events refused analytics (generator): ` +
        "the web source's `visitors` leaves refused events out when it decides whether an id was seen, so the id reads as never seen, " +
        `whereas \`Query.visitor\` promises null only when the warehouse has neither an event nor an identify call for it.${examples(cov.notFound)}`,
    );
  }
  if (cov.wrongKind.length) out.push(`- **Of the wrong kind**: ${cov.wrongKind.length}.${examples(cov.wrongKind)}`);
  if (cov.withErrors.length) out.push(`- **With errors**: ${cov.withErrors.length}.${examples(cov.withErrors)}`);
  out.push('');

  out.push('## 2. Latency: the same `web` selection, anonymous vs known', '');
  out.push(
    `Selection: \`${WEB}\`. One subject per request, each request a distinct id unless said; load from autocannon in a worker thread (bench/lib/load-worker.ts), on a fresh server (empty cache) after the counts below.`,
    '',
  );
  out.push(
    '| run | query | subjects | shared cache | conc. | requests | distinct ids | p50 ms | p95 ms | p99 ms | req/s | warehouse SQL / req | shop SQL / req | errors |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  );
  for (const row of r.latency) {
    const err = row.errorResponses || row.non2xx ? `${row.errorResponses} ${JSON.stringify(row.errorCodes)}${row.non2xx ? `, ${row.non2xx} non-2xx` : ''}` : '';
    out.push(
      `| ${row.run} | \`${row.query}\` | ${row.subjects} | ${row.cache} | ${row.concurrency} | ${row.requests} | ${row.distinctIds} | ${ms(row.p50)} | ${ms(row.p95)} | ${ms(row.p99)} | ${row.rps.toFixed(0)} | ${row.webPerRequest.toFixed(2)} | ${row.shopPerRequest.toFixed(2)} | ${err} |`,
    );
  }
  out.push('', '| conc. | ratio | p50 | p99 | req/s |', '|---:|---|---:|---:|---:|');
  for (const conc of settings.concurrencies) {
    const at = (run: string) => r.latency.find((row) => row.run === run && row.concurrency === conc);
    for (const [label, a, b] of [
      ['b. anonymous unlinked / a. known cold', 'b. anonymous, unlinked', 'a. known, cold'],
      ['c. anonymous linked cold / a. known cold', 'c. anonymous, linked, cold', 'a. known, cold'],
      ['b. anonymous unlinked / a. known warm', 'b. anonymous, unlinked', 'a. known, warm'],
      ['c. anonymous linked warm / a. known warm', 'c. anonymous, linked, warm', 'a. known, warm'],
    ] as const) {
      const x = at(a),
        y = at(b);
      if (x && y) out.push(`| ${conc} | ${label} | ${(x.p50 / y.p50).toFixed(2)} | ${(x.p99 / y.p99).toFixed(2)} | ${(x.rps / y.rps).toFixed(2)} |`);
    }
  }
  out.push('');
  out.push('## 3. SQL statements per request', '');
  out.push(
    `Each request alone, on subjects nobody had asked for (cold cache), the latency selection; one column entry per subject (x / y / z when they differ). Linked browsers: how many the generator signed in on as that customer alone (the most in this world: ${r.most}).`,
    '',
  );
  out.push('| request | subjects | linked browsers | warehouse SQL | shop SQL | answer |', '|---|---|---:|---:|---:|---|');
  for (const row of r.counts)
    out.push(`| \`${row.request}\` | ${row.subjects.join(', ')} | ${list(row.linkedBrowsers)} | ${list(row.web)} | ${list(row.shop)} | ${[...new Set(row.kinds)].join(', ')} |`);
  for (const group of ['customer(id:)', 'visitor(anonymousId:) of a linked id'] as const) {
    const rows = r.counts.filter((row) => row.group === group);
    const web = rows.flatMap((row) => row.web);
    const shop = rows.flatMap((row) => row.shop);
    const linked = [...new Set(rows.flatMap((row) => row.linkedBrowsers))].join(' and ');
    const same = new Set(web).size === 1 && new Set(shop).size === 1;
    out.push(
      '',
      same
        ? `${group}: ${web[0]} warehouse and ${shop[0]} shop statements with ${linked} linked browsers alike (constant in the number of linked ids).`
        : `${group}: **statements differ with ${linked} linked browsers**: warehouse ${rows.map((row) => list(row.web)).join(' vs ')}, shop ${rows.map((row) => list(row.shop)).join(' vs ')}.`,
    );
  }
  out.push('');
  const notes = [
    ...r.notes,
    `Cache: a known customer's \`web\` in this shape (30 days, 3 viewed products, 3 categories) is a declared cached shape (cache/web.ts), keyed by customer id: "cold" rows ask customers nobody asked before (each request misses and fills), "warm" rows ask them again right after a priming pass; what a warm row still sends to the warehouse is what is read live (an anonymous id's lookup always is: its key is an anonymous id). The customer record (shop) is cached for ${commerceTtl} s, then served stale while one background read refreshes it: the shop SQL of warm rows whose records the cold run stored a little earlier.`,
    `Warehouse statements per request below the single-request counts (${[...new Set(r.counts.map((row) => `${row.group === 'anonymous' ? 'visitor(anonymousId:) of an unlinked or ambiguous id' : row.group} ${list(row.web)}`))].join(', ')}) come from profiles whose newest consent answer withholds analytics (\`web\` null after the consent read) and, for unlinked ids, from ids read as never seen (\`visitor\` null after the lookup).`,
    `${settings.databaseUrl ? 'The PostgreSQL server answers several statements at once.' : "Embedded PGlite runs in this process and answers one statement at a time: at concurrency 50 every cold run queues on it (p50 close to 50 / req/s), so ratios there compare queueing, and milliseconds are this machine's."}`,
    "Known customers (a) and linked ids (c) come from disjoint halves of the customers with linked browsers (those without have no events carrying their user id); unlinked ids (b) are browsers no customer signed in on (prospects', and customers' never-signed-in devices).",
    "Ground truth replays sandbox/demo (personAt, webActivityOf, devicesOf, anonymousIdOf, sharingPartner) for the same world and window; the warehouse's identifies are not read for it.",
  ];
  out.push(...notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

await main();
