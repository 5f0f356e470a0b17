import type { Logger } from 'pino';
import type { AudienceQueries } from '../audiences/service.ts';
import type { AnswerRecording } from '../cache/answers.ts';
import type { Invalidator } from '../cache/invalidation.ts';
import type { Loaders } from '../cache/loaders.ts';
import type { Provenance } from '../cache/provenance.ts';
import type { OutgoingWebhooks } from '../push/webhooks/index.ts';
import type { AfterResponse } from './after-response.ts';
import type { RequestAuth } from './auth/index.ts';
import type { ChangeStreams } from './subscriptions/streams.ts';

/** What every resolver receives: this request's loaders and identity. */
export interface Context {
  readonly loaders: Loaders;
  /** Evictions from the shared cache (privacy requests). */
  readonly cache: Invalidator;
  /** What this request's data is made of, per source (reported in the response). */
  readonly provenance: Provenance;
  /** Echoed in the `x-request-id` response header and in every log line of the request. */
  readonly requestId: string;
  /** Where the request's plugins leave their audit and request lines until its response is written (whenAnswered); on /graphql requests. */
  readonly afterResponse?: AfterResponse;
  readonly log: Logger;
  readonly settings: Settings;
  /** Who is calling (principal and scopes) and what they read (the audit trail). */
  readonly auth: RequestAuth;
  /** The outgoing webhook endpoints, for the admin operations (push/webhooks); absent when the server does not deliver webhooks. */
  readonly webhooks?: OutgoingWebhooks;
  /** The change feed's events, on subscription operations only (server/subscriptions). */
  readonly changes?: ChangeStreams;
  /** Filters across sources, counts and saved audiences (audiences/); on /graphql requests only. */
  readonly audiences?: AudienceQueries;
  /** What execution read from the shared cache, for remembering the answer (server/answers.ts); on /graphql requests with the answer cache on. */
  readonly answer?: AnswerRecording;
  /**
   * The operation check (limits, cost, rate limit) already ran for this request in front of Apollo
   * (server/front.ts): the pipeline does not check, and charge the client's budget, again, and
   * answers a refusal as its own.
   */
  readonly checked?: CheckedBeforeApollo;
}

/** The operation check's outcome before Apollo: null when it passed, or the error to answer with. */
export interface CheckedBeforeApollo {
  readonly refusal: Error | null;
  /** The answer key the front looked up without finding an answer that holds: the pipeline does not look it up again, and the request's recording is made with it. */
  readonly missedAnswer?: string;
}

/** Configuration that decides whether arguments are valid, and how traits are computed. */
export interface Settings {
  /** The currency purchases are counted in; money filters in another currency are refused. */
  readonly shopCurrency: string;
  /** SHOP_TIME_ZONE (IANA), in which traits give hours of day (`bestSendHour`); UTC when omitted. */
  readonly shopTimeZone?: string;
  /** Contact properties `CrmContact.properties` may read. */
  readonly crmProperties: readonly string[];
  /**
   * Those of `crmProperties` that are direct identifiers (HUBSPOT_EXTRA_PROPERTIES `name:identifier`):
   * in the clear with customer:read:pii only, masked for segments:read. None when omitted.
   */
  readonly crmIdentifierProperties?: readonly string[];
  /**
   * How `predictedValue` values a customer's future (CLV_LIFETIME_MONTHS, CLV_ANNUAL_DISCOUNT_RATE):
   * 12 months at 10% a year when omitted.
   */
  readonly clv?: { readonly lifetimeMonths: number; readonly annualDiscountRate: number };
  /**
   * The CRM contact properties `Traits.demographics` reads an age band and a gender from
   * (TRAIT_BIRTHDATE_PROPERTY, TRAIT_GENDER_PROPERTY), each among `crmProperties`; off when omitted.
   */
  readonly demographicProperties?: { readonly birthDate?: string; readonly gender?: string };
  /** The half-life of `affinities`' recency decay, in days (TRAIT_AFFINITY_HALF_LIFE_DAYS); 14 when omitted. */
  readonly affinityHalfLifeDays?: number;
}
