import type { Logger } from 'pino';
import { SourceError, type SourceErrorKind, type SourceName } from '../sources/errors.ts';
import { family, type Family } from './family.ts';
import { contactEmailKey, crmContactKeys, emailKeys, normalizeEmail, personCacheKeys, type Upstreams } from './loaders.ts';

/** The sources whose answers the shared cache keeps (every one). */
export type CachedSource = Extract<SourceName, 'commerce' | 'crm' | 'email' | 'web'>;

const CACHED_SOURCES: readonly CachedSource[] = ['commerce', 'crm', 'email', 'web'];

/** Why one source could not be cleared of a person. */
export interface ForgetFailure {
  readonly source: CachedSource;
  /**
   * `lookup`: the person's id in the source could not be read (for `web`: the shop's customer id,
   * which is the warehouse's user id), so entries keyed by it may remain
   * (entries keyed by email were still evicted); `eviction`: the cache did not delete the entries.
   */
  readonly step: 'lookup' | 'eviction';
  /** For a lookup: the SourceError kind (timeout, unavailable when the breaker is open, ...). */
  readonly kind?: SourceErrorKind;
  /** Whether repeating the request later may succeed. */
  readonly retryable: boolean;
}

/** What `forgetPerson` did, per source. */
export interface ForgetReport {
  /** The email, normalized. */
  readonly email: string;
  /** Sources whose every possible entry about the person is gone (or never was), in CACHED_SOURCES order. */
  readonly cleared: CachedSource[];
  /** The other sources, one entry each (an eviction failure wins over a lookup failure). */
  readonly failed: ForgetFailure[];
  /** Keys evicted (every key that could hold something, cached or not) from the cleared and lookup-failed sources. */
  readonly keysCleared: number;
}

/** Id lookups for evictions: uncached (a lookup must not put the person back into the cache). */
interface Lookups {
  readonly customerByEmail: Family<string, { readonly id: string } | null>;
  readonly contactByEmail: Family<string, { readonly id: string } | null>;
}

/**
 * Evictions from the shared cache: for privacy requests (everything about a person) and for the
 * sources' own change notifications (HubSpot and Mailchimp webhooks). With Redis, a deletion also
 * reaches every replica's local copy through pub/sub.
 */
export class Invalidator {
  private readonly lookups: Lookups;

  /**
   * `deadline` (epoch ms) bounds the id lookups of `forgetPerson`; the guard's background budget when
   * absent. `forgetCustomer` erases what else the server keeps about a shop customer outside the
   * cache (push's trigger state), called by `forgetPerson` for each customer id it finds.
   */
  constructor(
    private readonly upstreams: Upstreams,
    private readonly logger: Logger,
    private readonly deadline?: number,
    lookups?: Lookups,
    private readonly forgetCustomer?: (customerId: string) => Promise<void>,
  ) {
    const { sources, guards } = upstreams;
    this.lookups = lookups ?? {
      customerByEmail: family({ source: 'commerce', name: 'forget-customer-by-email', batch: sources.commerce.customersByEmail, guard: guards.commerce, logger }),
      contactByEmail: family({ source: 'crm', name: 'forget-contact-by-email', batch: sources.crm.contactsByEmail, guard: guards.crm, logger }),
    };
  }

  /** The same invalidator, its lookups bounded by one request's deadline. */
  within(deadline: number): Invalidator {
    return new Invalidator(this.upstreams, this.logger, deadline, this.lookups, this.forgetCustomer);
  }

  /**
   * Evicts everything cached about the person with this email and says, per source, whether that
   * is done. Their ids in the other systems are read live through the sources' guards (breaker,
   * bulkhead, the deadline), and from the by-email entries still cached, since an entry may be keyed
   * by an id we would not otherwise know. A source whose lookup fails still loses its entries by
   * email and by any id the cache gave, and is reported failed; a failed eviction is reported
   * failed, never taken for done. Never throws; safe to repeat.
   */
  async forgetPerson(email: string): Promise<ForgetReport> {
    const key = normalizeEmail(email);
    const store = this.upstreams.store;
    if (!store) {
      await this.forgetCustomers(this.forgetCustomer ? (await lookup('commerce', this.lookups.customerByEmail([key], { deadline: this.deadline }))).id : undefined);
      return { email: key, cleared: [...CACHED_SOURCES], failed: [], keysCleared: 0 };
    }

    const call = { deadline: this.deadline };
    // The entries keyed by email alone (the customer, the contact, the member).
    const byEmail = personCacheKeys({ email: key });
    const [remembered, customer, contact] = await Promise.all([
      store.getMany(byEmail).catch(() => []),
      lookup('commerce', this.lookups.customerByEmail([key], call)),
      lookup('crm', this.lookups.contactByEmail([key], call)),
    ]);
    const idsIn = (source: CachedSource, found: Lookup) => {
      const fromCache = byEmail.flatMap((k, i) => {
        const id = (remembered[i]?.value as { id?: unknown } | null | undefined)?.id;
        return k.startsWith(`${source}:`) && typeof id === 'string' ? [id] : [];
      });
      return [...new Set([...fromCache, ...(found.id ? [found.id] : [])])];
    };
    const keys = new Set(byEmail);
    for (const customerId of idsIn('commerce', customer)) for (const k of personCacheKeys({ email: key, customerId })) keys.add(k);
    await this.forgetCustomers(...idsIn('commerce', customer));
    for (const contactId of idsIn('crm', contact)) for (const k of crmContactKeys(contactId, key)) keys.add(k);

    const bySource = new Map<CachedSource, string[]>(CACHED_SOURCES.map((source) => [source, []]));
    for (const k of keys) bySource.get(k.slice(0, k.indexOf(':')) as CachedSource)?.push(k);
    const evicted = await Promise.all(
      CACHED_SOURCES.map((source) =>
        this.delete(bySource.get(source)!).then(
          () => true,
          () => false,
        ),
      ),
    );

    // The warehouse is keyed by the shop's customer id: its entries are named by the shop's lookup.
    const lookupFailure: Partial<Record<CachedSource, SourceError>> = { commerce: customer.error, crm: contact.error, web: customer.error };
    const cleared: CachedSource[] = [];
    const failed: ForgetFailure[] = [];
    let keysCleared = 0;
    CACHED_SOURCES.forEach((source, i) => {
      const failure = lookupFailure[source];
      if (!evicted[i]) {
        failed.push({ source, step: 'eviction', retryable: true });
        return;
      }
      keysCleared += bySource.get(source)!.length;
      if (failure) failed.push({ source, step: 'lookup', kind: failure.kind, retryable: failure.retryable });
      else cleared.push(source);
    });
    return { email: key, cleared, failed, keysCleared };
  }

  /** HubSpot contacts changed or deleted: their entries by id, and by email through the index. */
  async contactsChanged(contactIds: readonly string[]): Promise<void> {
    const store = this.upstreams.store;
    if (!store || contactIds.length === 0) return;
    const emails = await store.getMany(contactIds.map(contactEmailKey)).catch(() => []);
    await this.delete(
      contactIds.flatMap((contactId, i) => {
        const email = emails[i]?.value;
        return crmContactKeys(contactId, typeof email === 'string' ? email : null);
      }),
    ).catch(() => undefined);
  }

  /** Mailchimp members changed (subscribe, unsubscribe, profile, cleaned, email change): the member and its feeds. */
  async membersChanged(emails: readonly string[]): Promise<void> {
    await this.delete(emails.flatMap(emailKeys)).catch(() => undefined);
  }

  /**
   * People changed in some source (push, docs/push.md): everything cached about each, by the ids
   * known (the email when the shop still has the customer). A failed eviction is logged, not thrown:
   * the entries then age out within their window.
   */
  async peopleChanged(people: ReadonlyArray<{ readonly customerId: string; readonly email: string | null; readonly contactId?: string | null }>): Promise<void> {
    const keys = people.flatMap(({ customerId, email, contactId }) => personCacheKeys({ email, customerId, contactId: contactId ?? null }));
    await this.delete(keys).catch(() => undefined);
  }

  /** Erases what is kept about these customers outside the cache; a failure is logged (the state expires on its own). */
  private async forgetCustomers(...customerIds: Array<string | undefined>): Promise<void> {
    const forget = this.forgetCustomer;
    if (!forget) return;
    await Promise.all(
      customerIds
        .filter((id): id is string => id !== undefined)
        .map((customerId) =>
          forget(customerId).catch((error: unknown) => this.logger.error({ err: error, customerId }, 'could not erase the trigger state of a forgotten customer')),
        ),
    );
  }

  /** Deletes the keys; a failure is logged and rethrown (each caller decides what it means). */
  private async delete(keys: readonly string[]): Promise<void> {
    const store = this.upstreams.store;
    if (!store || keys.length === 0) return;
    await store.delete(keys).catch((error: Error) => {
      this.logger.error({ err: error, keys: keys.length }, 'cache eviction failed');
      throw error;
    });
  }
}

interface Lookup {
  readonly id?: string;
  readonly error?: SourceError;
}

/** One key's lookup as an id, none (the source does not know the person), or the error. */
async function lookup(source: CachedSource, answer: Promise<Array<{ readonly id: string } | null | Error>>): Promise<Lookup> {
  const failed = (error: unknown): Lookup => ({
    error: error instanceof SourceError ? error : new SourceError(source, 'unavailable', 'the id lookup failed', { cause: error }),
  });
  try {
    const [found] = await answer;
    if (found instanceof Error) return failed(found);
    return found ? { id: found.id } : {};
  } catch (error) {
    return failed(error);
  }
}
