import { getDirectiveValues, type GraphQLField, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { Scope, type Principal } from './scopes.ts';

/**
 * A field's access policy, as the SDL declares it with Federation's directives:
 * `@requiresScopes(scopes: [["a", "b"], ["c"]])` means (a AND b) OR c, and `@authenticated` means
 * an authenticated caller (anonymous development requests are not). A Router reads the same
 * directives from the supergraph, so both enforce one policy.
 */
export interface Policy {
  readonly authenticated: boolean;
  /** Alternatives, any one of which grants the field; null when only `@authenticated` is declared. */
  readonly scopes: ReadonlyArray<readonly string[]> | null;
}

/** Directive names as imported through `@link` (unprefixed) or not (`federation__` prefix). */
const REQUIRES_SCOPES = ['requiresScopes', 'federation__requiresScopes'];
const AUTHENTICATED = ['authenticated', 'federation__authenticated'];

/** The policy a field declares, or null when it declares none. */
export function declaredPolicy(schema: GraphQLSchema, field: GraphQLField<unknown, unknown>): Policy | null {
  const node = field.astNode;
  if (!node?.directives?.length) return null;
  let scopes: string[][] | null = null;
  let authenticated = false;
  for (const name of REQUIRES_SCOPES) {
    const directive = schema.getDirective(name);
    const values = directive && getDirectiveValues(directive, node);
    if (values) scopes = [...(scopes ?? []), ...(values.scopes as string[][])];
  }
  for (const name of AUTHENTICATED) {
    const directive = schema.getDirective(name);
    if (directive && getDirectiveValues(directive, node)) authenticated = true;
  }
  return scopes || authenticated ? { authenticated, scopes } : null;
}

/** `Type.field`, as used in messages, audit lines and the cost table. */
export function coordinate(type: GraphQLObjectType, field: GraphQLField<unknown, unknown>): string {
  return `${type.name}.${field.name}`;
}

/** The alternatives the principal holds every scope of. */
export function heldAlternatives(policy: Policy, principal: Principal): ReadonlyArray<readonly string[]> {
  if (policy.authenticated && principal.kind === 'anonymous') return [];
  return (policy.scopes ?? [[]]).filter((alternative) => alternative.every((scope) => principal.scopes.has(scope as Scope)));
}

/** "customer:read:pii or customer:read:self or segments:read", for messages. */
export function describePolicy(policy: Policy): string {
  const scopes = (policy.scopes ?? []).map((alternative) => alternative.join(' and ')).join(' or ');
  if (policy.authenticated && scopes) return `an authenticated caller with ${scopes}`;
  return policy.authenticated ? 'an authenticated caller' : scopes;
}
