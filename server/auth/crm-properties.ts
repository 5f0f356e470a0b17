import { GraphQLError, type GraphQLFieldResolver } from 'graphql';
import { ErrorCode } from '../../resolvers/errors.ts';
import type { CrmProperty } from '../../resolvers/generated/types.ts';
import type { Context } from '../context.ts';
import { mask } from './masking.ts';
import type { MaskKind } from './personal-data.ts';
import { isBoundScope, Scope, type Principal } from './scopes.ts';

/** Where property values are read, as the audit line names it (never a property's name or value). */
export const PROPERTY_VALUE = 'CrmProperty.value';

/** The mask of an identifier property for segments:read: a phone-like name keeps its last two digits, anything else is redacted. */
export function propertyMask(name: string): MaskKind {
  return /phone/.test(name) ? 'phone' : 'redacted';
}

type Decision = 'full' | 'masked' | 'denied';

/**
 * Who may read an identifier property: in the clear with customer:read:pii, masked with
 * segments:read, and never with a self or visitor token whatever else it holds (a storefront
 * shows no CRM record). Traits are not decided here: whoever reached the contact reads them.
 */
function decide(principal: Principal): Decision {
  if ([...principal.scopes].some(isBoundScope)) return 'denied';
  if (principal.scopes.has(Scope.Pii)) return 'full';
  return principal.scopes.has(Scope.Segments) ? 'masked' : 'denied';
}

/**
 * Wraps the resolver of `CrmProperty.value`, so that the allow-listed contact properties
 * configured as direct identifiers (`settings.crmIdentifierProperties`) are read as the caller's
 * scopes allow: the value, its mask, or, refused, null with a FORBIDDEN error at that entry's
 * `value` (the other entries, and the rest of the contact, still answer). Every identifier
 * property read, masked or refused is recorded in the audit trail as `CrmProperty.value`.
 */
export function guardPropertyValue(resolve: GraphQLFieldResolver<CrmProperty, Context>): GraphQLFieldResolver<CrmProperty, Context> {
  return (property, args, context, info) => {
    if (!context.settings.crmIdentifierProperties?.includes(property.name)) return resolve(property, args, context, info);
    const { principal, audit } = context.auth;
    const decision = decide(principal);
    if (decision === 'denied') {
      audit.denied.add(PROPERTY_VALUE);
      return new GraphQLError(`Forbidden: the CRM property ${property.name} is a direct identifier and needs customer:read:pii (segments:read reads it masked).`, {
        extensions: { code: ErrorCode.Forbidden },
      });
    }
    audit.fields.add(PROPERTY_VALUE);
    const value = resolve(property, args, context, info);
    if (decision === 'full') return value;
    audit.masked.add(PROPERTY_VALUE);
    const kind = propertyMask(property.name);
    return value instanceof Promise ? value.then((resolved) => mask(kind, resolved)) : mask(kind, value);
  };
}
