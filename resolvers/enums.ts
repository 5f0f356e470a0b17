/**
 * GraphQL enum values and the values the sources use: the schema speaks SCREAMING_CASE, HubSpot
 * and Mailchimp their own names. Resolvers translate with `fromSource` and `toSource`.
 */

export const LifecycleStage = {
  SUBSCRIBER: 'subscriber',
  LEAD: 'lead',
  MARKETING_QUALIFIED_LEAD: 'marketingqualifiedlead',
  SALES_QUALIFIED_LEAD: 'salesqualifiedlead',
  OPPORTUNITY: 'opportunity',
  CUSTOMER: 'customer',
  EVANGELIST: 'evangelist',
  OTHER: 'other',
} as const;
export type LifecycleStage = (typeof LifecycleStage)[keyof typeof LifecycleStage];

export const EmailSubscriptionStatus = {
  SUBSCRIBED: 'subscribed',
  UNSUBSCRIBED: 'unsubscribed',
  CLEANED: 'cleaned',
  PENDING: 'pending',
  TRANSACTIONAL: 'transactional',
  ARCHIVED: 'archived',
} as const;
export type EmailSubscriptionStatus = (typeof EmailSubscriptionStatus)[keyof typeof EmailSubscriptionStatus];

export const EmailActivityType = {
  SENT: 'sent',
  OPEN: 'open',
  CLICK: 'click',
  BOUNCE: 'bounce',
  UNSUBSCRIBE: 'unsub',
} as const;
export type EmailActivityType = (typeof EmailActivityType)[keyof typeof EmailActivityType];

/** The GraphQL name of a source's value, or null when the enum has none (a custom HubSpot stage, say). */
export function fromSource<N extends string>(values: Record<N, string>, value: string | null): N | null {
  const entry = Object.entries(values).find(([, sourceValue]) => sourceValue === value);
  return entry ? (entry[0] as N) : null;
}

/** The source's value of a GraphQL enum name. */
export function toSource<N extends string, V extends string>(values: Record<N, V>, name: N): V {
  return values[name];
}
