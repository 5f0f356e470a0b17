import { getNamedType, isNonNullType, isObjectType, type GraphQLField, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { identifierKind } from './personal-data.ts';
import { coordinate, declaredPolicy } from './policy.ts';
import { Scope } from './scopes.ts';

function isEntity(type: GraphQLObjectType): boolean {
  return Boolean(type.astNode?.directives?.some((directive) => directive.name.value === 'key'));
}

/** Root fields whose policy lives in code (server/auth/enforce.ts), since Federation generates them. */
export const CODE_POLICED = new Set(['Query._entities', 'Query._service']);

/**
 * Everything wrong with the schema's access policy, one line each (empty when sound):
 * - a root field without a policy (it would be refused to everyone);
 * - a field of an entity (`@key`) type without one (a Router reaches them through `_entities`);
 * - a direct identifier (server/auth/personal-data.ts) without `@requiresScopes`, one that
 *   `customer:read:traits` alone would grant, or a non-null one that can be refused (its FORBIDDEN
 *   null would wipe out the whole parent object);
 * - any field reachable without passing a field that declares a policy.
 */
export function policyProblems(schema: GraphQLSchema): string[] {
  const problems: string[] = [];
  const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter((type): type is GraphQLObjectType => Boolean(type));
  const types = Object.values(schema.getTypeMap()).filter((type): type is GraphQLObjectType => isObjectType(type) && !type.name.startsWith('__') && type.name !== '_Service');
  const fieldsOf = (type: GraphQLObjectType) => Object.values(type.getFields()) as Array<GraphQLField<unknown, unknown>>;
  const has = (type: GraphQLObjectType, field: GraphQLField<unknown, unknown>) => CODE_POLICED.has(coordinate(type, field)) || declaredPolicy(schema, field) !== null;

  for (const root of roots) {
    for (const field of fieldsOf(root)) {
      if (!has(root, field)) problems.push(`${coordinate(root, field)}: a root field without @requiresScopes or @authenticated`);
    }
  }
  for (const type of types) {
    if (!isEntity(type)) continue;
    for (const field of fieldsOf(type)) {
      if (!has(type, field)) problems.push(`${coordinate(type, field)}: a field of entity ${type.name} without a policy (reachable through _entities)`);
    }
  }
  for (const type of types) {
    for (const field of fieldsOf(type)) {
      if (!identifierKind(field)) continue;
      const policy = declaredPolicy(schema, field);
      const at = coordinate(type, field);
      if (!policy?.scopes) {
        problems.push(`${at}: a direct identifier without @requiresScopes`);
        continue;
      }
      if (policy.scopes.some((alternative) => alternative.every((scope) => scope === Scope.Traits))) {
        problems.push(`${at}: a direct identifier that customer:read:traits alone may read`);
      }
      if (isNonNullType(field.type) && policy.scopes.some((alternative) => alternative.includes(Scope.Pii))) {
        problems.push(`${at}: a direct identifier that is non-null, so refusing it would null its parent`);
      }
    }
  }

  // Fixpoint from the roots: a type is covered when every field returning it is; a field is
  // covered when it declares a policy or its type (the parent) is covered.
  const returning = new Map<string, Array<{ type: GraphQLObjectType; field: GraphQLField<unknown, unknown> }>>();
  for (const type of types) {
    for (const field of fieldsOf(type)) {
      const target = getNamedType(field.type).name;
      returning.set(target, [...(returning.get(target) ?? []), { type, field }]);
    }
  }
  const covered = new Set<string>();
  const fieldCovered = (type: GraphQLObjectType, field: GraphQLField<unknown, unknown>) => has(type, field) || covered.has(type.name);
  for (let changed = true; changed;) {
    changed = false;
    for (const type of types) {
      if (covered.has(type.name) || roots.includes(type)) continue;
      const incoming = returning.get(type.name) ?? [];
      if (incoming.length > 0 && !isEntity(type) && incoming.every(({ type: parent, field }) => fieldCovered(parent, field))) {
        covered.add(type.name);
        changed = true;
      }
    }
  }
  for (const type of types) {
    if (roots.includes(type) || isEntity(type)) continue; // reported above
    for (const field of fieldsOf(type)) {
      if (!fieldCovered(type, field)) problems.push(`${coordinate(type, field)}: reachable without any policy`);
    }
  }
  return problems;
}
