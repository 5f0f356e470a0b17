import type { CrmCondition, EmailCondition, WebCondition } from '../sources/audience.ts';
import type { CommerceCondition } from '../sources/commerce/audience.ts';

/**
 * A filter across sources as the planner reads it: and/or/not over one source's conditions. Built
 * from the GraphQL input by audiences/input.ts (validated there) and from a saved audience's
 * definition.
 */
export type FilterNode =
  | { readonly kind: 'all'; readonly of: readonly FilterNode[] }
  | { readonly kind: 'any'; readonly of: readonly FilterNode[] }
  | { readonly kind: 'not'; readonly of: FilterNode }
  | { readonly kind: 'commerce'; readonly condition: CommerceCondition }
  | ExternalLeaf;

/** A condition another system evaluates (pushed down to it). */
export type ExternalLeaf =
  | { readonly kind: 'crm'; readonly condition: CrmCondition }
  | { readonly kind: 'email'; readonly condition: EmailCondition }
  | { readonly kind: 'web'; readonly condition: WebCondition };

export type ExternalSource = ExternalLeaf['kind'];

export const MATCH_ALL: FilterNode = { kind: 'all', of: [] };

/** The fields a leaf's condition sets, for plans and messages (never their values). */
export function fieldsOf(condition: object): string[] {
  return Object.entries(condition)
    .filter(([, value]) => value !== undefined)
    .map(([name]) => name);
}

/** How a node reads in a plan or an error: the source and its fields, e.g. `email(openedSince, tags)`. */
export function describe(node: FilterNode): string {
  switch (node.kind) {
    case 'all':
      return node.of.length === 0 ? 'everyone' : node.of.map(describe).join(' and ');
    case 'any':
      return `(${node.of.map(describe).join(' or ')})`;
    case 'not':
      return `not ${describe(node.of)}`;
    default:
      return `${node.kind}(${fieldsOf(node.condition).join(', ')})`;
  }
}
