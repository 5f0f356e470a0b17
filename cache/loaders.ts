import DataLoader from 'dataloader';
import type { Logger } from 'pino';
import type { ClvFit, CommerceCustomer, CommerceSource, PriceTierBoundaries, RfmBoundaries, RfmScore } from '../sources/commerce/index.ts';
import type { SourceName } from '../sources/errors.ts';
import type { CrmContact, HubSpotSource } from '../sources/hubspot/index.ts';
import type { ActivityOptions, EmailActivity, MailchimpSource } from '../sources/mailchimp/index.ts';
import type { WebSource } from '../sources/web/index.ts';
import { ACTIVITY_FAMILY, ACTIVITY_READS_PER_REQUEST, ACTIVITY_SHAPES, activityShape, boundedActivityBatch, type ActivityAllowance } from './activity.ts';
import { cacheKey, entryState, observedFamily, type CallContext, type Family, type FamilyObserver, type FreshnessPolicy } from './family.ts';
import { SourceGuard, type GuardOptions } from './guard.ts';
import {
  EMAIL_SETS,
  ORDER_PERIOD_SHAPES,
  PERSON_SETS,
  SETS_BY_NAME,
  contactEmailKey,
  normalizeEmail,
  type AllSets,
  type DataSet,
  type KeyOf,
  type LoaderKeyOf,
  type NormalizesKeys,
  type ResultOf,
  type SetName,
} from './sets.ts';
import { splitFamily } from './shapes.ts';
import type { EntityStore } from './store.ts';
import { webUserKeys } from './web.ts';

export { contactEmailKey, normalizeEmail } from './sets.ts';

/** The upstreams a request can reach. */
export interface Sources {
  readonly commerce: CommerceSource;
  readonly crm: HubSpotSource;
  readonly email: MailchimpSource;
  readonly web: WebSource;
}

export interface UpstreamOptions {
  /** The shared entity cache, or null to read every key live. */
  readonly store: EntityStore | null;
  /** Per source: every data set of a source is kept as long as the others (sets.ts). */
  readonly freshness: Record<SourceName, FreshnessPolicy>;
  readonly guard: GuardOptions;
  readonly logger: Logger;
  /** Sees every family call and upstream call (the server's metrics and tracing); none by default. */
  readonly observer?: FamilyObserver;
  /** Uncached activity-feed reads one request may make (MAILCHIMP_ACTIVITY_MAX_PER_REQUEST); 20 by default. */
  readonly activityReadsPerRequest?: number;
}

/** The cached families with several entries per person, by the key they are kept under. */
const PERSON_SHAPED: ReadonlyArray<{ readonly by: 'customerId' | 'email'; readonly keysOf: (key: string) => string[] }> = [
  { by: 'customerId', keysOf: (id) => ORDER_PERIOD_SHAPES.keysOf(id) },
  // The warehouse's user id is the shop's customer id.
  { by: 'customerId', keysOf: webUserKeys },
  { by: 'email', keysOf: (email) => ACTIVITY_SHAPES.keysOf(email) },
];

/** Every data set's family, by the set's name (sets.ts). */
export type Families = { readonly [N in SetName]: Family<KeyOf<AllSets[N]>, ResultOf<AllSets[N]>> };

/**
 * A set's entry as the code deriving from every set reads it: their key and answer types differ
 * from set to set, and the mapped types (Families, Loaders) give each its own back.
 */
const untyped = (set: unknown) => set as DataSet<unknown, unknown, unknown, unknown, ((key: string) => string) | undefined>;

/**
 * The process-wide side of data access: each source's guard (breaker, bulkhead) and every batch
 * function wrapped as a family (cached where it pays), one per declared data set (sets.ts). Built
 * once at start-up; requests bind it to their deadline and provenance through createLoaders.
 */
export function createUpstreams(sources: Sources, options: UpstreamOptions) {
  const family = observedFamily(options.observer);
  const guards = {
    commerce: new SourceGuard('commerce', options.guard),
    crm: new SourceGuard('crm', options.guard),
    email: new SourceGuard('email', options.guard),
    web: new SourceGuard('web', options.guard),
  } satisfies Partial<Record<SourceName, SourceGuard>>;
  const { store, logger } = options;
  const { commerce, email } = sources;
  /** A set's family: its source's guard, its coalescing, and the cache as its entry keeps it. */
  const familyOf = (name: SetName): Family<unknown, unknown> => {
    const { source } = SETS_BY_NAME[name];
    const set = untyped(SETS_BY_NAME[name].set);
    const coalesce = set.coalesce && { ...set.coalesce, admit: set.admit?.(sources[source]) };
    const live = { source, name: set.name, batch: set.batch(sources[source]), guard: guards[source], logger, coalesce };
    if (!store || !set.kept) return family(live);
    const { entry, only, alsoStore } = set.kept;
    const cached = family({ ...live, cache: { store, policy: options.freshness[source], keyOf: entry, alsoStore } });
    return only ? splitFamily(only, cached, family(live)) : cached;
  };
  const families = Object.fromEntries(Object.keys(SETS_BY_NAME).map((name) => [name, familyOf(name as SetName)])) as Families;
  // One activity family per (count, types): the feed is read with those arguments for every member.
  // Only the declared shapes (activity.ts) are cached, so an eviction can name all their keys.
  const activity = new Map<string, Family<string, EmailActivity[] | null>>();
  const emailActivity = (args: ActivityOptions) => {
    const shape = activityShape(args);
    let found = activity.get(shape);
    if (!found) {
      const keyOf = (email: string) => ACTIVITY_SHAPES.entry(shape, email);
      found = family({
        source: 'email',
        name: ACTIVITY_FAMILY,
        batch: email.activityByEmail(args),
        guard: guards.email,
        logger,
        ...(store && ACTIVITY_SHAPES.isCached(args) && { cache: { store, policy: options.freshness.email, keyOf } }),
      });
      activity.set(shape, found);
    }
    return found;
  };
  /** Which members' feeds of this shape the family would serve from the cache now (the rest are reads). */
  const activityServedFromCache = async (args: ActivityOptions, emails: readonly string[]): Promise<boolean[]> => {
    if (!store || !ACTIVITY_SHAPES.isCached(args)) return emails.map(() => false);
    const shape = activityShape(args);
    const entries = await store.getMany(emails.map((e) => ACTIVITY_SHAPES.cacheKey(shape, e))).catch(() => []);
    const now = Date.now();
    return emails.map((_, i) => entryState(entries[i], options.freshness.email, now) !== 'miss');
  };
  // Scoring is pure (stats and boundaries), so RFM never waits on the shop database for boundaries
  // it has: only when none was ever computed does it read them, under the guard and the deadline.
  const rfmBoundaries = async (call: CallContext): Promise<RfmBoundaries> => commerce.rfm.current() ?? guards.commerce.run(() => commerce.rfm.ensure(), call.deadline);
  /** The boundaries in force now, for what was scored with earlier ones to notice (CallContext.dependsOnKept). */
  const rfmInForce = (): RfmBoundaries | null => commerce.rfm.current();
  // The CLV parameters likewise: fitted in the background, waited for only when none was ever fitted.
  const clvFit = async (call: CallContext): Promise<ClvFit> => commerce.clv.current() ?? guards.commerce.run(() => commerce.clv.ensure(), call.deadline);
  // The catalogue's price tiers likewise (read in the background; waited for only when never read).
  const priceTiers = async (call: CallContext): Promise<PriceTierBoundaries> =>
    commerce.priceTiers.current() ?? guards.commerce.run(() => commerce.priceTiers.ensure(), call.deadline);
  const activityReadsPerRequest = options.activityReadsPerRequest ?? ACTIVITY_READS_PER_REQUEST;
  return { sources, guards, families, emailActivity, activityServedFromCache, activityReadsPerRequest, rfmBoundaries, rfmInForce, clvFit, priceTiers, store };
}

export type Upstreams = ReturnType<typeof createUpstreams>;

/** What a person is known by, in each family's key. */
export interface PersonKeys {
  /** Null when only the ids are known (a customer the shop no longer has): the by-email entries are left to age out. */
  readonly email: string | null;
  readonly customerId?: string | null;
  readonly contactId?: string | null;
}

/** Every cache key that can hold something about the person (whether or not it is cached now): an entry of every declared set. */
export function personCacheKeys({ email, customerId, contactId }: PersonKeys): string[] {
  const keys = { email: email === null ? null : normalizeEmail(email), customerId: customerId ?? null, contactId: contactId ?? null };
  return [
    ...Object.values(PERSON_SETS).flatMap(({ source, name, by }) => (keys[by] === null ? [] : [cacheKey(source, name, keys[by])])),
    ...(keys.contactId ? [contactEmailKey(keys.contactId)] : []),
    ...PERSON_SHAPED.flatMap(({ by, keysOf }) => (keys[by] === null ? [] : keysOf(keys[by]))),
  ];
}

/** A HubSpot contact's entries: by id (with its company and email index) and by email. */
export function crmContactKeys(contactId: string | null, email: string | null): string[] {
  return personCacheKeys({ email, contactId }).filter((key) => key.startsWith('crm:'));
}

/** A Mailchimp member's entry. */
export const emailMemberKey = (email: string): string => cacheKey('email', EMAIL_SETS.emailMember.name, normalizeEmail(email));

/** Everything cached from Mailchimp about an email: the member and its feeds (activity.ts). */
export const emailKeys = (email: string): string[] => personCacheKeys({ email }).filter((key) => key.startsWith('email:'));

/** A loader whose keys are normalized before it sees them: only loading is offered. */
export interface NormalizedLoader<K, V> {
  load: (key: K) => Promise<V>;
  loadMany: (keys: readonly K[]) => Promise<Array<V | Error>>;
}

/** A set's own DataLoader. */
type SetLoader<N extends SetName> = DataLoader<KeyOf<AllSets[N]>, ResultOf<AllSets[N]>, LoaderKeyOf<AllSets[N]>>;

/** The sets whose loaders are written out in RequestLoaders (they prime one another); every other set's is derived from its entry. */
type WrittenOut = 'customerById' | 'customerByEmail' | 'crmContactById';

/** A set's loader as a request sees it: its DataLoader, or only `load` and `loadMany` when its keys are normalized. */
type Face<N extends SetName> = NormalizesKeys<AllSets[N]> extends true ? NormalizedLoader<KeyOf<AllSets[N]>, ResultOf<AllSets[N]>> : SetLoader<N>;

type DerivedLoaders = { readonly [N in Exclude<SetName, WrittenOut>]: Face<N> };

/**
 * One request's loaders: each dedupes its keys and batches every load of one tick into one call
 * of its family, which applies the request's deadline and reports into its provenance. A loader
 * is made on its first use, so a request pays only for the loaders it uses.
 */
export type Loaders = RequestLoaders & DerivedLoaders;

export function createLoaders(upstreams: Upstreams, request: CallContext): Loaders {
  // The derived loaders are getters RequestLoaders' prototype gains below its class.
  return new RequestLoaders(upstreams, request) as Loaders;
}

class RequestLoaders {
  private readonly startedAt = Date.now();
  // When each answer of this request was read from its source, by the answer's object (a cached
  // value shared with other requests is still one answer per request: the map is this request's).
  private readonly readTimes = new WeakMap<object, number>();
  private readonly call: CallContext;
  /** The sets' DataLoaders this request has used, by set name. */
  private readonly made = new Map<SetName, DataLoader<unknown, unknown, unknown>>();
  /** The derived loaders this request has used whose keys are normalized, by set name. */
  private readonly normalizing = new Map<SetName, NormalizedLoader<string, unknown>>();
  private customerByIdLoader?: NormalizedLoader<string, CommerceCustomer | null>;
  private customerByEmailLoader?: NormalizedLoader<string, CommerceCustomer | null>;
  private crmContactByIdLoader?: DataLoader<string, CrmContact | null>;
  private rfmLoader?: DataLoader<string, RfmScore | null>;
  private activity?: { readonly loaders: Map<string, DataLoader<string, EmailActivity[] | null>>; readonly allowance: ActivityAllowance };
  private clvFitRead?: Promise<ClvFit>;
  private priceTiersRead?: Promise<PriceTierBoundaries>;

  constructor(
    private readonly upstreams: Upstreams,
    request: CallContext,
  ) {
    const readTimes = this.readTimes;
    this.call = {
      // Read at each call: an analyst's question extends its request's budget (audiences/service.ts).
      get deadline() {
        return request.deadline;
      },
      ...(request.report && { report: request.report }),
      ...(request.dependsOn && { dependsOn: request.dependsOn }),
      ...(request.dependsOnKept && { dependsOnKept: request.dependsOnKept }),
      readAt: (value, epochMs) => {
        if (typeof value === 'object' && value !== null) readTimes.set(value, epochMs);
        request.readAt?.(value, epochMs);
      },
    };
  }

  /**
   * When a value this request's loaders answered was read from its source: now for a live read,
   * when it was stored for a cached one. For a value that is not an object (null: nothing found,
   * cached only briefly) or was not read through a family, the request's start.
   */
  readAt(value: unknown): Date {
    return new Date((typeof value === 'object' && value !== null && this.readTimes.get(value)) || this.startedAt);
  }

  get customerById(): NormalizedLoader<string, CommerceCustomer | null> {
    return (this.customerByIdLoader ??= this.priming(this.loader('customerById')));
  }

  get customerByEmail(): NormalizedLoader<string, CommerceCustomer | null> {
    return (this.customerByEmailLoader ??= this.priming(this.face('customerByEmail') as Face<'customerByEmail'>));
  }

  /** Keys: contact ids. Each contact found is the answer for its email as well (crmContactByEmail). */
  get crmContactById(): DataLoader<string, CrmContact | null> {
    return (this.crmContactByIdLoader ??= this.loader('crmContactById', (contacts) => {
      for (const contact of contacts) if (contact && !(contact instanceof Error) && contact.email) this.loader('crmContactByEmail').prime(contact.email, contact);
    }));
  }

  // RFM reuses the request's purchase stats (selecting both runs the aggregate statement once) and
  // scores them in process: stats served from the cache score even while the shop database's
  // breaker is open.
  get rfm(): DataLoader<string, RfmScore | null> {
    return (this.rfmLoader ??= new DataLoader<string, RfmScore | null>(
      async (ids) => {
        const stats = await this.loader('purchaseStats').loadMany(ids);
        const buyers = stats.some((s) => !(s instanceof Error) && s.orderCount > 0);
        const boundaries = buyers ? await this.upstreams.rfmBoundaries(this.call).catch((error: Error) => error) : null;
        if (boundaries !== null && !(boundaries instanceof Error)) this.call.dependsOnKept?.(this.upstreams.rfmInForce, boundaries);
        return stats.map((s) => {
          if (s instanceof Error) return s;
          if (s.orderCount === 0 || boundaries === null) return null;
          return boundaries instanceof Error ? boundaries : this.upstreams.sources.commerce.rfm.score(s, boundaries);
        });
      },
      { maxBatchSize: SETS_BY_NAME.purchaseStats.set.batchSize },
    ));
  }

  /** The CLV parameters in force (fitted in the background), read once per request. */
  clvFit(): Promise<ClvFit> {
    return (this.clvFitRead ??= this.upstreams.clvFit(this.call));
  }

  /** The catalogue's price tiers in force (kept in the background), read once per request. */
  priceTiers(): Promise<PriceTierBoundaries> {
    return (this.priceTiersRead ??= this.upstreams.priceTiers(this.call));
  }

  /**
   * One loader per (count, types) of the activity feed. Feeds the cache can serve are free; the
   * request reads at most `activityReadsPerRequest` others across all its activity loaders, and the
   * members beyond get a RequestLimitError (activity.ts).
   */
  emailActivity(options: ActivityOptions): NormalizedLoader<string, EmailActivity[] | null> {
    this.activity ??= { loaders: new Map(), allowance: { limit: this.upstreams.activityReadsPerRequest, used: 0 } };
    const shape = activityShape(options);
    let found = this.activity.loaders.get(shape);
    if (!found) {
      const servedFromCache = (emails: readonly string[]) => this.upstreams.activityServedFromCache(options, emails);
      found = new DataLoader(boundedActivityBatch(this.upstreams.emailActivity(options), servedFromCache, this.activity.allowance, this.call));
      this.activity.loaders.set(shape, found);
    }
    return normalized(found, normalizeEmail);
  }

  /**
   * The set's DataLoader, made on first use: its batch size and key for deduplication as the set
   * declares them, each call a call of the set's family. `answered`, when given, sees every call's
   * answers before the loads do.
   */
  private loader<N extends SetName>(name: N, answered?: (values: ReadonlyArray<ResultOf<AllSets[N]> | Error>) => void): SetLoader<N> {
    let found = this.made.get(name);
    if (!found) {
      const set = untyped(SETS_BY_NAME[name].set);
      const family = this.upstreams.families[name] as Family<unknown, unknown>;
      const call = this.call;
      const batch: DataLoader.BatchLoadFn<unknown, unknown> = answered
        ? async (keys) => {
            const values = await family(keys, call);
            answered(values as Array<ResultOf<AllSets[N]> | Error>);
            return values;
          }
        : (keys) => family(keys, call);
      found = new DataLoader(batch, { maxBatchSize: set.batchSize, cacheKeyFn: set.loaderKey });
      this.made.set(name, found);
    }
    return found as SetLoader<N>;
  }

  /** A set's loader as a request sees it (Face): its DataLoader, behind its normalization when it has one. */
  private face(name: SetName): unknown {
    const normalize = untyped(SETS_BY_NAME[name].set).normalize;
    if (!normalize) return this.loader(name);
    let found = this.normalizing.get(name);
    if (!found) {
      found = normalized(this.loader(name) as DataLoader<string, unknown, unknown>, normalize);
      this.normalizing.set(name, found);
    }
    return found;
  }

  /** `loader`, with each customer it answers found by id and by email alike from then on. */
  private priming(loader: NormalizedLoader<string, CommerceCustomer | null>): NormalizedLoader<string, CommerceCustomer | null> {
    const prime = (customers: ReadonlyArray<CommerceCustomer | null | Error>) => {
      for (const customer of customers) {
        if (customer && !(customer instanceof Error)) {
          this.loader('customerById').prime(customer.id, customer);
          this.loader('customerByEmail').prime(customer.email, customer);
        }
      }
    };
    return {
      load: async (key) => {
        const customer = await loader.load(key);
        prime([customer]);
        return customer;
      },
      loadMany: async (keys) => {
        const customers = await loader.loadMany(keys);
        prime(customers);
        return customers;
      },
    };
  }

  static {
    for (const name of Object.keys(SETS_BY_NAME) as SetName[]) {
      if (Object.hasOwn(RequestLoaders.prototype, name)) continue;
      Object.defineProperty(RequestLoaders.prototype, name, {
        get(this: RequestLoaders) {
          return this.face(name);
        },
      });
    }
  }
}

function normalized<K, V, C>(loader: DataLoader<K, V, C>, normalize: (key: K) => K): NormalizedLoader<K, V> {
  return {
    load: (key: K) => loader.load(normalize(key)),
    loadMany: (keys: readonly K[]) => loader.loadMany(keys.map(normalize)),
  };
}
