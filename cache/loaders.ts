import DataLoader from 'dataloader';
import type {
  CommerceCustomer,
  CommerceSource,
  CustomerCarts,
  LineItem,
  OrderPage,
  OrderPageKey,
  PurchaseStats,
  RfmScore,
  SegmentPage,
  SegmentPageKey,
} from '../sources/commerce/index.ts';
import type { CrmCompany, CrmContact, CrmOwner, HubSpotSource } from '../sources/hubspot/index.ts';
import type { ActivityOptions, EmailActivity, EmailMember, EmailTag, MailchimpSource } from '../sources/mailchimp/index.ts';

/** The upstreams a request can reach. */
export interface Sources {
  readonly commerce: CommerceSource;
  readonly crm: HubSpotSource;
  readonly email: MailchimpSource;
}

/** HubSpot's batch read takes at most 100 inputs. */
const CRM_BATCH = 100;

/** Statements stay bounded (and `= ANY($1)` arrays reasonable) even for the largest allowed request. */
const COMMERCE_BATCH = 500;

/**
 * One request's loaders: each dedupes its keys and batches every load of one tick into one call of
 * its source's batch function. Created per request, so nothing is shared between callers here
 * (the shared cache is a separate layer).
 */
export function createLoaders(sources: Sources) {
  const { commerce, crm, email } = sources;
  const customerById: DataLoader<string, CommerceCustomer | null> = new DataLoader(
    async (ids) => primed(await commerce.customersById(ids), (c) => customerByEmail.prime(c.email, c)),
    { maxBatchSize: COMMERCE_BATCH },
  );
  const customerByEmail: DataLoader<string, CommerceCustomer | null> = new DataLoader(
    async (emails) => primed(await commerce.customersByEmail(emails), (c) => customerById.prime(c.id, c)),
    { maxBatchSize: COMMERCE_BATCH },
  );
  const purchaseStats = new DataLoader<string, PurchaseStats>(commerce.purchaseStats, { maxBatchSize: COMMERCE_BATCH });
  return {
    customerById,
    /** Keys are normalized here (trimmed, lower-cased), so `A@x.com ` and `a@x.com` are one key. */
    customerByEmail: normalized(customerByEmail, normalizeEmail),
    purchaseStats,
    // RFM reuses the request's purchase stats: selecting both runs the aggregate statement once.
    rfm: new DataLoader<string, RfmScore | null>(
      async (ids) => {
        const stats = await purchaseStats.loadMany(ids);
        const known = stats.filter((s): s is PurchaseStats => !(s instanceof Error));
        const scores = await commerce.rfmScores(known);
        let next = 0;
        return stats.map((s) => (s instanceof Error ? s : scores[next++]!));
      },
      { maxBatchSize: COMMERCE_BATCH },
    ),
    orderPages: new DataLoader<OrderPageKey, OrderPage, string>(commerce.orderPages, {
      maxBatchSize: COMMERCE_BATCH,
      cacheKeyFn: (key) => JSON.stringify([key.customerId, key.first, key.after?.placedAt.toISOString(), key.after?.id]),
    }),
    lineItems: new DataLoader<string, LineItem[]>(commerce.lineItems, { maxBatchSize: COMMERCE_BATCH * 10 }),
    carts: new DataLoader<string, CustomerCarts>(commerce.customerCarts, { maxBatchSize: COMMERCE_BATCH }),
    // Segment pages are scans of their own: never batched together, only deduplicated.
    segmentPages: new DataLoader<SegmentPageKey, SegmentPage, string>(
      (keys) => Promise.all(keys.map((key) => commerce.segmentPage(key).catch((error: Error) => error))),
      { cacheKeyFn: (key) => JSON.stringify(key) },
    ),
    ...crmLoaders(crm),
    ...emailLoaders(email),
  };
}

function crmLoaders(crm: HubSpotSource) {
  const contactByEmail: DataLoader<string, CrmContact | null> = new DataLoader(crm.contactsByEmail, { maxBatchSize: CRM_BATCH });
  return {
    crmContactByEmail: normalized(contactByEmail, normalizeEmail),
    crmContactById: new DataLoader<string, CrmContact | null>(
      async (ids) => primed(await crm.contactsById(ids), (c) => c.email && contactByEmail.prime(c.email, c)),
      { maxBatchSize: CRM_BATCH },
    ),
    /** Keys: contact ids. */
    crmCompany: new DataLoader<string, CrmCompany | null>(crm.companiesForContacts, { maxBatchSize: CRM_BATCH }),
    crmOwner: new DataLoader<string, CrmOwner | null>(crm.ownersById, { maxBatchSize: CRM_BATCH }),
  };
}

function emailLoaders(email: MailchimpSource) {
  // Mailchimp reads one member per call: the source's in-flight limit, not the batch size, bounds
  // the load on Mailchimp.
  const activity = new Map<string, DataLoader<string, EmailActivity[] | null>>();
  return {
    emailMember: normalized(new DataLoader<string, EmailMember | null>(email.membersByEmail), normalizeEmail),
    emailTags: normalized(new DataLoader<string, EmailTag[] | null>(email.tagsByEmail), normalizeEmail),
    /** One loader per (count, types): the feed is read with those arguments for every member. */
    emailActivity(options: ActivityOptions) {
      const key = JSON.stringify([options.count, options.types ?? []]);
      let loader = activity.get(key);
      if (!loader) activity.set(key, (loader = new DataLoader(email.activityByEmail(options))));
      return normalized(loader, normalizeEmail);
    },
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

/** Email keys as every source compares them. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function primed<V>(values: ReadonlyArray<V | null | Error>, prime: (value: V) => void): Array<V | null | Error> {
  for (const value of values) if (value !== null && !(value instanceof Error)) prime(value);
  return [...values];
}

function normalized<K, V, C>(loader: DataLoader<K, V, C>, normalize: (key: K) => K) {
  return {
    load: (key: K) => loader.load(normalize(key)),
    loadMany: (keys: readonly K[]) => loader.loadMany(keys.map(normalize)),
  };
}
