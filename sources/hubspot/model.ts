/** The CRM source's own models: what its batch functions return and resolvers read. */

/** A HubSpot contact. Empty property values are null; strings are as HubSpot holds them. */
export interface CrmContact {
  /** HubSpot contact id (`hs_object_id`), a numeric string. */
  readonly id: string;
  /** Lower-cased; null for a contact without an email (reachable by id only). */
  readonly email: string | null;
  readonly firstName: string | null;
  readonly lastName: string | null;
  readonly phone: string | null;
  /** The `company` text property (free text typed on the contact), not the associated company. */
  readonly company: string | null;
  readonly jobTitle: string | null;
  /** HubSpot's internal stage name: subscriber, lead, marketingqualifiedlead, ... customer, evangelist, other. */
  readonly lifecycleStage: string | null;
  /** `hs_lead_status` internal value, e.g. NEW, OPEN, IN_PROGRESS. */
  readonly leadStatus: string | null;
  /** `hubspot_owner_id`: an owner id for `ownersById`. */
  readonly ownerId: string | null;
  readonly city: string | null;
  /** State or region. */
  readonly state: string | null;
  readonly zip: string | null;
  /** Free text, usually the country's English name. */
  readonly country: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** The allow-listed extra properties that were asked for, by internal name (absent value = null). */
  readonly properties: Readonly<Record<string, string | null>>;
}

/** The company a contact is associated with (its primary company when it has several). */
export interface CrmCompany {
  readonly id: string;
  readonly name: string | null;
  readonly domain: string | null;
  readonly website: string | null;
  /** HubSpot industry enum value, e.g. COMPUTER_SOFTWARE. */
  readonly industry: string | null;
  /** `numberofemployees`, null when empty or not a number. */
  readonly employees: number | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A HubSpot owner (a user who can own CRM records). */
export interface CrmOwner {
  readonly id: string;
  readonly email: string | null;
  readonly firstName: string | null;
  readonly lastName: string | null;
  /** True when the owner was deactivated. */
  readonly archived: boolean;
}

/** Where the source reports what an operator must act on. Matches pino's `(obj, msg)` signature. */
export interface HubSpotLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface HubSpotSourceOptions {
  /** Private-app access token. Kept inside the SDK client; never logged or put in an error. */
  readonly accessToken: string;
  /** API root without a trailing slash; https://api.hubapi.com by default (a stand-in's url in demo). */
  readonly baseUrl?: string;
  /** Longest one HTTP request may take before it is aborted and the call fails with `timeout`. */
  readonly timeoutMs: number;
  /**
   * Longest one call may spend waiting, for a rate-limit slot or between retries. A call therefore
   * ends within about `retryBudgetMs + timeoutMs`.
   */
  readonly retryBudgetMs: number;
  /** Requests this process may send per interval (HubSpot private apps: 100, 190 or 250 per 10 s); the fleet's, with `quotaRedisUrl`. */
  readonly rateLimit: { readonly requests: number; readonly intervalMs: number };
  /**
   * A Redis every replica shares: the rate limit and the search limit are then counted there, for
   * the fleet, instead of per process (limiter.ts). The source opens its own connection.
   */
  readonly quotaRedisUrl?: string;
  /** Contact properties beyond the standard set that callers may read (internal names). */
  readonly extraProperties: readonly string[];
  /** How often remembered owners (and the fact that there is none) are read again in the background; 5 minutes by default, 0 = never remember. */
  readonly ownersTtlMs?: number;
  /** Receives the lines an operator must act on: a refused token, the daily limit reached. */
  readonly logger: HubSpotLogger;
}
