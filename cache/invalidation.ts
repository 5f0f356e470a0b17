import type { Logger } from 'pino';
import { contactEmailKey, crmContactKeys, emailMemberKey, normalizeEmail, personCacheKeys, type Upstreams } from './loaders.ts';

/**
 * Evictions from the shared cache: for privacy requests (everything about a person) and for the
 * sources' own change notifications (HubSpot and Mailchimp webhooks). With Redis, a deletion also
 * reaches every replica's local copy through pub/sub.
 */
export class Invalidator {
  constructor(
    private readonly upstreams: Upstreams,
    private readonly logger: Logger,
  ) {}

  /**
   * Everything cached about the person with this email. Their ids in the other systems are read
   * live from the sources (a cached entry may be keyed by an id we would not otherwise know); a
   * source that cannot answer does not stop the rest. Returns the number of keys cleared.
   */
  async forgetPerson(email: string): Promise<number> {
    const key = normalizeEmail(email);
    const { commerce, crm } = this.upstreams.sources;
    const [customer, contact] = await Promise.all([
      commerce.customersByEmail([key]).then(([found]) => found, () => null),
      crm.contactsByEmail([key]).then(([found]) => found, () => null),
    ]);
    const keys = personCacheKeys({
      email: key,
      customerId: customer instanceof Error ? null : customer?.id,
      contactId: contact instanceof Error ? null : contact?.id,
    });
    await this.delete(keys);
    return keys.length;
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
    );
  }

  /** Mailchimp members changed (subscribe, unsubscribe, profile, cleaned, email change). */
  async membersChanged(emails: readonly string[]): Promise<void> {
    await this.delete(emails.map(emailMemberKey));
  }

  private async delete(keys: readonly string[]): Promise<void> {
    const store = this.upstreams.store;
    if (!store || keys.length === 0) return;
    await store.delete(keys).catch((error: Error) => this.logger.error({ err: error, keys: keys.length }, 'cache eviction failed'));
  }
}
