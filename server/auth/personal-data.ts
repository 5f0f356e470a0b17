import type { GraphQLField, GraphQLNamedType } from 'graphql';
import { getNamedType, isCompositeType } from 'graphql';

/**
 * The direct identifiers: fields that name, reach or locate one person. Every field whose name or
 * named type is listed here must carry `@requiresScopes` in the SDL (the schema-walk test fails
 * otherwise), and is masked as listed when the caller reads it through `segments:read` without
 * `customer:read:pii`.
 *
 * Not identifiers, on purpose: system ids (commerce customer id, HubSpot contact id, anonymous ids)
 * are the keys `customer:read:traits` callers join on; company name, job title, region, state,
 * country and timezone are coarse attributes. The Mailchimp subscriber hash is MD5 of the email,
 * so anyone holding a list of emails can reverse it: it counts as an identifier.
 */
export const IDENTIFIER_FIELDS = {
  email: 'email',
  emails: 'email',
  firstName: 'name',
  lastName: 'name',
  fullName: 'name',
  displayName: 'name',
  phone: 'phone',
  phoneNumber: 'phone',
  mobilePhone: 'phone',
  address: 'redacted',
  street: 'redacted',
  streetAddress: 'redacted',
  city: 'initial',
  postalCode: 'postal',
  zip: 'postal',
  latitude: 'coordinate',
  longitude: 'coordinate',
  ip: 'ip',
  ipAddress: 'ip',
  userAgent: 'redacted',
  url: 'url',
  pageUrl: 'url',
  referrer: 'url',
  subscriberHash: 'hash',
  mailchimpSubscriberHash: 'hash',
} as const satisfies Record<string, MaskKind>;

/** Scalars whose every value is an identifier, whatever the field is called. */
export const IDENTIFIER_TYPES = {
  EmailAddress: 'email',
  IPAddress: 'ip',
} as const satisfies Record<string, MaskKind>;

/**
 * How a masked value looks:
 * email `j***@example.com`, name `J.`, initial `S***`, phone `***42` (last two digits),
 * postal `94***`, coordinate rounded to whole degrees, ip the /24 (IPv4) or /48 (IPv6) network,
 * url without query and fragment, hash its first 4 characters, redacted `***`.
 */
export type MaskKind = 'email' | 'name' | 'initial' | 'phone' | 'postal' | 'coordinate' | 'ip' | 'url' | 'hash' | 'redacted';

/**
 * The mask of a field when it is a direct identifier, else null. Only a value is one: a field of
 * an object type named like an identifier (`Consent.email`, the email channel's consent) holds
 * fields of its own, each judged by its own name and type.
 */
export function identifierKind(field: Pick<GraphQLField<unknown, unknown>, 'name' | 'type'>): MaskKind | null {
  const type: GraphQLNamedType = getNamedType(field.type);
  if (isCompositeType(type)) return null;
  return (IDENTIFIER_FIELDS as Record<string, MaskKind>)[field.name] ?? (IDENTIFIER_TYPES as Record<string, MaskKind>)[type.name] ?? null;
}
