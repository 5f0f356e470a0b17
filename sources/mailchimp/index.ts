import { createHash } from 'node:crypto';
import { createRedisClient } from '../../cache/redis-client.ts';
import type { AudienceSource, EmailCondition } from '../audience.ts';
import type { ContractFinding } from '../contract.ts';
import type { BatchFn } from '../errors.ts';
import { SourceError } from '../errors.ts';
import { createEmailAudience, type EmailAudienceOptions } from './audience.ts';
import { eachKey } from './batch.ts';
import { createMailchimpClient, keepAliveAgent, useConnections } from './client.ts';
import { checkAudience } from './contract.ts';
import { fleetConnections } from './fleet.ts';
import { ACTIVITY_FIELDS, MEMBER_FIELDS, TAG_FIELDS, toActivity, toMember, toTags } from './mapping.ts';
import { subscriberHash, type EmailActivity, type EmailMember, type EmailTag } from './model.ts';
import { createUpstream, type BatchState, type MailchimpLogger } from './upstream.ts';

export * from './model.ts';
export { emailAudienceNotConfigured, MEMBERS_PAGE_SIZE, type EmailAudienceOptions } from './audience.ts';
export type { MailchimpLogger } from './upstream.ts';

/** Mailchimp's per-account connection limit: the fleet's with `connectionsRedisUrl`, else each process's. */
export const DEFAULT_MAX_IN_FLIGHT = 10;
/** How long an idle connection to Mailchimp is kept for the next request (MAILCHIMP_KEEP_ALIVE_MS). */
export const DEFAULT_KEEP_ALIVE_MS = 5000;

/** Activity types the feed can be filtered by (`activity_filters`). */
export const ACTIVITY_FILTERS = [
  'bounce',
  'click',
  'conversation',
  'ecommerce_signup',
  'event',
  'web_engagement',
  'generic_signup',
  'landing_page_signup',
  'marketing_permission',
  'note',
  'open',
  'order',
  'postcard_sent',
  'sent',
  'signup',
  'squatter_signup',
  'unsub',
  'website_signup',
  'survey_response',
  'sms_bulk_sent',
  'inbox_thread',
  'qbo_payment_link',
  'video_call_transcripts',
] as const;

export interface MailchimpSourceOptions {
  /** A Marketing API key; its suffix ("-us21") names the datacenter unless serverPrefix is set. */
  readonly apiKey: string;
  readonly serverPrefix?: string;
  /** Origin of a Mailchimp-compatible API (the stand-in); '/3.0' is appended. Wins over the datacenter. */
  readonly baseUrl?: string;
  /** The audience (list) whose members this source reads. */
  readonly listId: string;
  /** Per HTTP call; the request is aborted when it passes. */
  readonly timeoutMs: number;
  /**
   * How long one key may keep retrying (429 cool-down, one 5xx retry) after its first failure or
   * its first wait on a cool-down; never past the deadline of the batch function's signal.
   */
  readonly retryBudgetMs: number;
  /**
   * Most requests in flight from this source at once, whatever the number of batches; with
   * `connectionsRedisUrl`, from all the replicas together. Default 10 (Mailchimp's per account).
   */
  readonly maxInFlight?: number;
  /**
   * REDIS_URL: the replicas reading this account count its connections together there (fleet.ts),
   * under a key named by a hash of the API key. Each process counts its own without it.
   */
  readonly connectionsRedisUrl?: string;
  /**
   * How long a connection to Mailchimp stays open after a request for the next one, in ms (at most
   * `maxInFlight` are kept); 0 opens one per request, as the SDK alone does. Default 5000.
   */
  readonly keepAliveMs?: number;
  /** Receives one line when the API key is refused; nothing is logged without it. */
  readonly logger?: MailchimpLogger;
  /** The audience push-down's own settings (see sources/mailchimp/audience.ts). */
  readonly audience?: EmailAudienceOptions;
}

export interface ActivityOptions {
  /** Newest entries to read per member, 1 to 1000. */
  readonly count: number;
  /** Keep only these activity types (ACTIVITY_FILTERS); all when absent or empty. */
  readonly types?: readonly string[];
}

/** The email source. Batch functions follow the BatchFn contract of sources/errors.ts. */
export interface MailchimpSource {
  /** Members by normalized email: the member, null when not in the audience, or that key's SourceError. */
  readonly membersByEmail: BatchFn<string, EmailMember>;
  /**
   * A batch function over emails for one (count, types) choice: the member's activity newest first,
   * null when not in the audience. Make one per distinct argument set (a loader per arguments).
   * Throws RangeError at once for a count or type Mailchimp would refuse.
   */
  activityByEmail(options: ActivityOptions): BatchFn<string, EmailActivity[]>;
  /**
   * The member's tags with when each was added (up to 1000). The member body has the tags too,
   * without dates: read this only when the dates are asked for.
   */
  readonly tagsByEmail: BatchFn<string, EmailTag[]>;
  /** Resolves when Mailchimp answers a ping with this key; rejects with a SourceError. */
  ping(): Promise<void>;
  /** Closes the connection to Redis the fleet's connection count uses; calls after it are not supported. */
  close(): Promise<void>;
  /**
   * The start-up check (ContractCheck): the configured audience exists and the key is accepted.
   * Rejects only when Mailchimp cannot be reached.
   */
  checkContract(): Promise<ContractFinding[]>;
  /**
   * The audience's members for the audience planner (sources/audience.ts), by lower-cased email:
   * status and opt-in time pushed down to the member listing, opens, clicks, rating and tags
   * checked per candidate. Shares this source's in-flight limit.
   */
  readonly audience: AudienceSource<EmailCondition>;
}

const silent: MailchimpLogger = { warn: () => {}, error: () => {} };

function atLeast(min: number, name: string, value: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new SourceError('email', 'not_configured', `expected ${name} to be an integer of at least ${min}, got ${value}`);
  }
  return value;
}

function checkActivity({ count, types = [] }: ActivityOptions): void {
  if (!Number.isInteger(count) || count < 1 || count > 1000) throw new RangeError(`expected count from 1 to 1000, got ${count}`);
  const unknown = types.filter((type) => !(ACTIVITY_FILTERS as readonly string[]).includes(type));
  if (unknown.length > 0) throw new RangeError(`expected activity types among ACTIVITY_FILTERS, got ${unknown.join(', ')}`);
}

/**
 * Builds the email source: its own SDK client and one in-flight limit shared by all its batch
 * functions, so create one per process. Throws SourceError not_configured for unusable options.
 */
export function createMailchimpSource(options: MailchimpSourceOptions): MailchimpSource {
  const { listId } = options;
  if (!listId) throw new SourceError('email', 'not_configured', 'expected a Mailchimp audience (list) id');
  const client = createMailchimpClient({ ...options, timeoutMs: atLeast(1, 'timeoutMs', options.timeoutMs) });
  const logger = options.logger ?? silent;
  const maxInFlight = atLeast(1, 'maxInFlight', options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  const keepAliveMs = atLeast(0, 'keepAliveMs', options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS);
  const connections = keepAliveMs > 0 ? keepAliveAgent(client.basePath, { idleMs: keepAliveMs, maxSockets: maxInFlight }) : undefined;
  if (connections) useConnections(client, connections);
  const redis = options.connectionsRedisUrl ? createRedisClient(options.connectionsRedisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 200 }) : null;
  redis?.on('error', () => undefined);
  // The limit is the account's: replicas with the same key count together, under a key that names
  // the API key by a hash (the key itself never leaves the process).
  const account = createHash('sha256').update(options.apiKey).digest('hex').slice(0, 16);
  let redisFailureLogged = false;
  const fleet =
    redis &&
    fleetConnections(redis, `c360:mailchimp:connections:${account}`, maxInFlight, (error) => {
      if (redisFailureLogged) return;
      redisFailureLogged = true;
      const reason = error instanceof Error ? error.name : typeof error;
      logger.warn({ source: 'email', reason }, "Redis did not answer for the fleet's Mailchimp connection count: this replica counts its own until it does");
    });
  const upstream = createUpstream({
    maxInFlight,
    retryBudgetMs: atLeast(0, 'retryBudgetMs', options.retryBudgetMs),
    logger,
    ...(fleet && { fleet }),
  });

  const byEmail =
    <V>(request: (hash: string) => Promise<unknown>, map: (body: unknown) => V): BatchFn<string, V> =>
    (emails, signal) =>
      eachKey(
        emails,
        async (email: string, batch: BatchState, keySignal: AbortSignal | undefined) => {
          const body = await upstream.call(() => request(subscriberHash(email)), batch, keySignal);
          return body === null ? null : map(body);
        },
        signal,
      );

  return {
    membersByEmail: byEmail((hash) => client.lists.getListMember(listId, hash, { fields: MEMBER_FIELDS }), toMember),
    activityByEmail: (activity) => {
      checkActivity(activity);
      const { count, types = [] } = activity;
      const opts = { fields: ACTIVITY_FIELDS, count, activityFilters: types.length > 0 ? types : undefined };
      return byEmail((hash) => client.lists.getListMemberActivityFeed(listId, hash, opts), toActivity);
    },
    tagsByEmail: byEmail((hash) => client.lists.getListMemberTags(listId, hash, { fields: TAG_FIELDS, count: 1000 }), toTags),
    ping: async () => {
      const body = await upstream.call(() => client.ping.get());
      if (body === null) throw new SourceError('email', 'bad_response', 'expected a ping answer from Mailchimp, got 404');
    },
    checkContract: () => checkAudience(upstream, client, listId),
    close: async () => {
      redis?.disconnect();
      connections?.destroy();
    },
    audience: createEmailAudience(upstream, client, listId, {
      checkConcurrency: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
      ...options.audience,
    }),
  };
}
