import type { CommerceSource, SegmentPageKey } from '../sources/commerce/index.ts';
import type { SourceName } from '../sources/errors.ts';
import type { CrmContact, HubSpotSource } from '../sources/hubspot/index.ts';
import type { MailchimpSource } from '../sources/mailchimp/index.ts';
import type { WebKey, WebSource, WebSubject } from '../sources/web/index.ts';
import { cacheKey, type Coalescing, type FamilyOptions } from './family.ts';
import { declareShapes, type DeclaredShapes } from './shapes.ts';
import { WEB_CONSENT_FAMILY, WEB_IDENTITY_FAMILY, WEB_SHAPES } from './web.ts';

/** A person's key a data set can be cached under. */
export type PersonKey = 'customerId' | 'email' | 'contactId';

/** A source batch function (sources/errors.ts BatchFn): one answer per key, in key order. */
type Batch<K, R> = FamilyOptions<K, R>['batch'];

/**
 * How a data set is kept in the shared cache, when there is one. Its entries are
 * `<source>:<name>:<entry>`; how long they are served is its source's (UpstreamOptions.freshness).
 */
export interface Kept<K, R> {
  /** The entry of a key within the set. */
  readonly entry: (key: K) => string;
  /**
   * Set for the data sets cached by a person's key as it is (`person`): PERSON_SETS, so forgetting
   * the person (personCacheKeys) deletes their entry. Sets cached in shapes (several entries per
   * person) declare their keys beside their shapes instead.
   */
  readonly by?: PersonKey;
  /** When set, only the keys it accepts are cached; the others are read live, by a second family without the cache (splitFamily). */
  readonly only?: (key: K) => boolean;
  /** Further entries to write beside a value (FamilyOptions.cache.alsoStore). */
  readonly alsoStore?: (key: K, value: NonNullable<R>) => Array<{ key: string; value: unknown }>;
}

/**
 * One data set of source `S`: what its family (process-wide: guard, cache, coalescing) and each
 * request's loader (deduplication and batching per tick) are made of. `C` is the loader's key for
 * deduplication, `N` the key normalization, when there is one.
 */
export interface DataSet<S, K, R, C = K, N extends ((key: string) => string) | undefined = undefined> {
  /** Unique per source: the family's name, the middle of its cache keys and its metric label. */
  readonly name: string;
  /** Its batch function, from the source. */
  readonly batch: (source: S) => Batch<K, R>;
  /** Keys in one call of a request's loader (DataLoader's maxBatchSize); absent: all the keys of a tick. */
  readonly batchSize?: number;
  /** For keys that are not strings: the key as one string, so equal keys are loaded once (DataLoader's cacheKeyFn). */
  readonly loaderKey?: (key: K) => C;
  /**
   * For string keys: applied to every key a request's loader is given, before anything else (the
   * loader then offers `load` and `loadMany` only).
   */
  readonly normalize?: N;
  /** Absent: read live. */
  readonly kept?: Kept<K, R>;
  /** Concurrent requests' calls share upstream batches (FamilyOptions.coalesce). */
  readonly coalesce?: Omit<Coalescing, 'admit'>;
  /** With `coalesce`, for a rate-limited source: a batch's slot, taken before its keys are chosen (Coalescing.admit). */
  readonly admit?: (source: S) => Coalescing['admit'];
}

/** A table entry of source `S`: its key and answer types come from its batch function. */
const dataSetOf =
  <S>() =>
  <K, R, C = K, N extends ((key: string) => string) | undefined = undefined>(set: DataSet<S, K, R, C, N>) =>
    set;

/** Cached by the key as it is, a person's `by` key. */
const person = (by: PersonKey) => ({ by, entry: (key: string) => key });

/** Email keys as every source compares them. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Where a contact's email is kept by contact id, so a webhook naming only the id can evict by email. */
export const contactEmailKey = (contactId: string): string => cacheKey('crm', 'email-of-contact', contactId);

function contactEmailIndex(_key: string, contact: CrmContact) {
  return contact.email ? [{ key: contactEmailKey(contact.id), value: contact.email }] : [];
}

/** A web key (whose events, window and page size) as one string, for DataLoader's deduplication. */
const webKey = (key: { userId: string | null; anonymousId: string | null; days?: number; first?: number }): string =>
  JSON.stringify([key.userId, key.anonymousId, key.days ?? null, key.first ?? null]);

/** HubSpot's batch read takes at most 100 inputs. */
const CRM_BATCH = 100;
/**
 * HubSpot's quota counts calls, and one batch read takes 100 contacts: concurrent requests' contact
 * reads share calls once 2 are under way (family.ts `coalesce`; a call waiting for a slot of the
 * paced limiter counts), so calls grow with load, not with requests. Two, not more: keys that
 * arrive while both are out wait for one round (a slot, 112 ms apart at the default quota, and
 * HubSpot's answer) and leave together, where more calls in flight would each wait their turn for
 * a slot with a key or two (bench/fleet.ts: 20 new customers a second answered at p50 289 ms with
 * 2, 516 ms with 4). A call takes its slot before its contacts are chosen (`admit`): the contacts
 * that come while it waits for the slot, a longer wait when replicas share the quota, go with it.
 */
const CRM_COALESCE = { maxKeys: CRM_BATCH, maxInFlight: 2 };
const crmSlot = (crm: HubSpotSource) => (deadline: number | undefined) => crm.reserveSlot(deadline);
/** Statements stay bounded (and `= ANY($1)` arrays reasonable) even for the largest allowed request. */
const COMMERCE_BATCH = 500;
/**
 * The shop database and the warehouse share one pool (DATABASE_POOL_MAX, 10 by default) across a
 * dozen families: concurrent requests' reads of one family share statements once 2 are under way,
 * so that under load statements (and their round trips) grow with the load, not with requests,
 * and a statement does not queue for a connection behind many others that each read one key. A
 * lone request never waits.
 */
const DATABASE_COALESCE = { maxKeys: COMMERCE_BATCH, maxInFlight: 2 };

/**
 * The engagement trend's shop periods (`traits { engagementTrend }`): cached at the schema's default
 * period only, so forgetting a customer can name every key; other periods are read live.
 */
export const ORDER_PERIOD_SHAPES = declareShapes<{ days: number }>('commerce', 'order-periods', ({ days }) => `${days}`, [{ days: 30 }]);

const shop = dataSetOf<CommerceSource>();

/** The shop database's data sets (the person sets first, in the order their keys are listed). */
export const COMMERCE_SETS = {
  customerById: shop({ name: 'customer-by-id', batch: (c) => c.customersById, batchSize: COMMERCE_BATCH, kept: person('customerId'), coalesce: DATABASE_COALESCE }),
  customerByEmail: shop({
    name: 'customer-by-email',
    batch: (c) => c.customersByEmail,
    batchSize: COMMERCE_BATCH,
    normalize: normalizeEmail,
    kept: person('email'),
    coalesce: DATABASE_COALESCE,
  }),
  purchaseStats: shop({ name: 'purchases', batch: (c) => c.purchaseStats, batchSize: COMMERCE_BATCH, kept: person('customerId'), coalesce: DATABASE_COALESCE }),
  carts: shop({ name: 'carts', batch: (c) => c.customerCarts, batchSize: COMMERCE_BATCH, kept: person('customerId'), coalesce: DATABASE_COALESCE }),
  /** Keys: customer ids. A customer's purchase history as the CLV models read it. */
  clvSummary: shop({ name: 'clv-summary', batch: (c) => c.clvSummaries, batchSize: COMMERCE_BATCH, kept: person('customerId'), coalesce: DATABASE_COALESCE }),
  /** Keys: customer ids. Units bought per category, price and age (the affinity trait's purchases). */
  purchaseEvidence: shop({ name: 'purchase-evidence', batch: (c) => c.purchaseEvidence, batchSize: COMMERCE_BATCH, kept: person('customerId'), coalesce: DATABASE_COALESCE }),
  /** Keys: customer ids. Completed orders with their discounts (traits.discountSensitivity). */
  discountHistory: shop({ name: 'discounts', batch: (c) => c.discountHistories, batchSize: COMMERCE_BATCH, kept: person('customerId'), coalesce: DATABASE_COALESCE }),
  orderPages: shop({
    name: 'orders',
    batch: (c) => c.orderPages,
    batchSize: COMMERCE_BATCH,
    loaderKey: (key) => JSON.stringify([key.customerId, key.first, key.after?.placedAt.toISOString(), key.after?.id]),
  }),
  lineItems: shop({ name: 'line-items', batch: (c) => c.lineItems, batchSize: COMMERCE_BATCH * 10 }),
  // Segment pages are scans of their own: never batched together, only deduplicated.
  segmentPages: shop({
    name: 'segment',
    batch: (c) => (keys: readonly SegmentPageKey[]) => Promise.all(keys.map((key) => c.segmentPage(key).catch((error: Error) => error))),
    loaderKey: (key) => JSON.stringify(key),
  }),
  /** Keys: a customer and the length of the two periods compared. */
  orderPeriods: shop({
    name: ORDER_PERIOD_SHAPES.family,
    batch: (c) => c.orderPeriods,
    batchSize: COMMERCE_BATCH,
    loaderKey: (key) => `${key.days}:${key.customerId}`,
    kept: { entry: (key) => ORDER_PERIOD_SHAPES.entry(ORDER_PERIOD_SHAPES.shapeOf(key), key.customerId), only: ORDER_PERIOD_SHAPES.isCached },
  }),
};

const hubspot = dataSetOf<HubSpotSource>();

/** HubSpot's data sets (the person sets first, in the order their keys are listed). */
export const CRM_SETS = {
  crmContactById: hubspot({
    name: 'contact-by-id',
    batch: (crm) => crm.contactsById,
    batchSize: CRM_BATCH,
    kept: { ...person('contactId'), alsoStore: contactEmailIndex },
    coalesce: CRM_COALESCE,
    admit: crmSlot,
  }),
  /** Keys: contact ids. */
  crmCompany: hubspot({ name: 'company', batch: (crm) => crm.companiesForContacts, batchSize: CRM_BATCH, kept: person('contactId') }),
  crmContactByEmail: hubspot({
    name: 'contact-by-email',
    batch: (crm) => crm.contactsByEmail,
    batchSize: CRM_BATCH,
    normalize: normalizeEmail,
    kept: { ...person('email'), alsoStore: contactEmailIndex },
    coalesce: CRM_COALESCE,
    admit: crmSlot,
  }),
  crmOwner: hubspot({ name: 'owner', batch: (crm) => crm.ownersById, batchSize: CRM_BATCH }),
};

const mailchimp = dataSetOf<MailchimpSource>();

/**
 * Mailchimp's data sets. Mailchimp reads one member per call: the source's in-flight limit, not a
 * batch size, bounds the load on Mailchimp. The activity feeds are one family per shape
 * (activity.ts), made on demand.
 */
export const EMAIL_SETS = {
  emailMember: mailchimp({ name: 'member', batch: (email) => email.membersByEmail, normalize: normalizeEmail, kept: person('email') }),
  emailTags: mailchimp({ name: 'tags', batch: (email) => email.tagsByEmail, normalize: normalizeEmail }),
};

const warehouse = dataSetOf<WebSource>();

/** A customer's own reads (by their shop id, no session's browser added): the only web reads cached. */
const ownRead = (key: WebSubject) => key.userId !== null && key.anonymousId === null;

/**
 * A windowed web set, cached for a customer's own reads in its declared shapes only (web.ts) and
 * by their shop id, so that forgetting them names every key; other shapes are read live.
 */
const windowed = <K extends WebKey, R>(shapes: DeclaredShapes<K>, batch: (web: WebSource) => Batch<K, R>) =>
  warehouse({
    name: shapes.family,
    batch,
    loaderKey: webKey,
    kept: { entry: (key) => shapes.entry(shapes.shapeOf(key), key.userId!), only: (key) => ownRead(key) && shapes.isCached(key) },
    coalesce: DATABASE_COALESCE,
  });

/** The warehouse's data sets. */
export const WEB_SETS = {
  // Cached by user id, the shop's customer id (web.ts webUserKeys names it for eviction).
  webIdentity: warehouse({ name: WEB_IDENTITY_FAMILY, batch: (web) => web.identities, kept: { entry: (userId) => userId }, coalesce: DATABASE_COALESCE }),
  // Read live: its key is an anonymous id, which forgetting a person could name only by asking
  // the warehouse for their links, and a warehouse that has already forgotten them would not say.
  webVisitor: warehouse({ name: 'visitor', batch: (web) => web.visitors }),
  // Asked before every read of a person's browsing (a withheld consent serves none of it).
  webConsent: warehouse({
    name: WEB_CONSENT_FAMILY,
    batch: (web) => web.consents,
    loaderKey: webKey,
    kept: { entry: (key) => key.userId!, only: ownRead },
    coalesce: DATABASE_COALESCE,
  }),
  webLocation: windowed(WEB_SHAPES.locations, (web: WebSource) => web.locations),
  // One key: the source reads the load status at most every 30 s and shares it.
  webLoadStatus: warehouse({
    name: 'load-status',
    batch: (web) => async (keys: readonly string[]) => {
      const status = await web.loadStatus();
      return keys.map(() => status);
    },
  }),
  webSummary: windowed(WEB_SHAPES.summaries, (web: WebSource) => web.summaries),
  webViewedProducts: windowed(WEB_SHAPES.recentlyViewedProducts, (web: WebSource) => web.recentlyViewedProducts),
  webTopCategories: windowed(WEB_SHAPES.topCategories, (web: WebSource) => web.topCategories),
  webCartActivity: windowed(WEB_SHAPES.cartActivity, (web: WebSource) => web.cartActivity),
  webDevices: windowed(WEB_SHAPES.devices, (web: WebSource) => web.devices),
  webTouches: windowed(WEB_SHAPES.touches, (web: WebSource) => web.touches),
  webSearches: windowed(WEB_SHAPES.searches, (web: WebSource) => web.searches),
  webSessionSources: windowed(WEB_SHAPES.sessionSources, (web: WebSource) => web.sessionSources),
  webEngagementPeriods: windowed(WEB_SHAPES.engagementPeriods, (web: WebSource) => web.engagementPeriods),
  webAffinityEvidence: windowed(WEB_SHAPES.affinityEvidence, (web: WebSource) => web.affinityEvidence),
};

/**
 * Every source's table of data sets, declared once: each set's family (createUpstreams) and each
 * request's loader (createLoaders) are derived from its entry, and so are PERSON_SETS and the
 * metric labels (the names). How long entries are served is per source, not per set
 * (UpstreamOptions.freshness[source]). The tables' keys name the loaders and families, so they are
 * unique across sources.
 */
export const DATA_SETS = { commerce: COMMERCE_SETS, crm: CRM_SETS, email: EMAIL_SETS, web: WEB_SETS } satisfies Partial<Record<SourceName, object>>;

type Tables = typeof DATA_SETS;
/** Every data set, by name. */
export type AllSets = Tables['commerce'] & Tables['crm'] & Tables['email'] & Tables['web'];
export type SetName = keyof AllSets;

/** A set's key and answer types. */
export type KeyOf<D> = D extends DataSet<never, infer K, infer _R, infer _C, infer _N> ? K : never;
export type ResultOf<D> = D extends DataSet<never, infer _K, infer R, infer _C, infer _N> ? R : never;

/** A set's loader key for deduplication (DataLoader's `C`). */
export type LoaderKeyOf<D> = D extends DataSet<never, infer _K, infer _R, infer C, infer _N> ? C : never;
/** Whether a set's loader normalizes its keys. */
export type NormalizesKeys<D> = D extends DataSet<never, infer _K, infer _R, infer _C, infer N> ? (N extends undefined ? false : true) : never;

/** Every set by name, with its source, in table order. */
export const SETS_BY_NAME = Object.fromEntries(
  Object.entries(DATA_SETS).flatMap(([source, sets]) => Object.entries<unknown>(sets).map(([name, set]) => [name, { source, set }])),
) as {
  readonly [N in SetName]: { readonly source: keyof Tables; readonly set: AllSets[N] };
};

/** A data set cached under one of a person's keys. */
export interface PersonSet {
  readonly source: SourceName;
  readonly name: string;
  readonly by: PersonKey;
}

/**
 * The data sets cached under one of a person's keys (`by`), by set name, derived from the tables:
 * forgetting a person (`personCacheKeys`) deletes an entry of every one, so a set cached by a
 * person's key cannot be left out of an eviction. The shaped ones (several entries per person: web
 * windows, engagement periods, activity feeds) declare their keys beside their shapes.
 */
export const PERSON_SETS: Readonly<Record<string, PersonSet>> = Object.fromEntries(
  Object.entries(SETS_BY_NAME).flatMap(([name, { source, set }]) => (set.kept?.by ? [[name, { source, name: set.name, by: set.kept.by }]] : [])),
);
