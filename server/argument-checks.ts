import type { ApolloServerPlugin } from '@apollo/server';
import {
  getArgumentValues,
  getVariableValues,
  GraphQLError,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type FieldNode,
  type GraphQLField,
  type GraphQLSchema,
} from 'graphql';
import type { Context, Settings } from './context.ts';
import { DocumentPlans } from './plan.ts';

export type ArgumentCheck = (args: Record<string, unknown>, settings: Settings) => unknown;

/** A field of the document that has an argument check: what each request runs, in document order. */
interface CheckedField {
  readonly field: GraphQLField<unknown, unknown>;
  readonly node: FieldNode;
  readonly check: ArgumentCheck;
}

/**
 * Runs each field's argument check (by schema coordinate, e.g. `CommerceProfile.orders`) over the
 * whole operation before execution, so a bad argument anywhere fails the request with its
 * BAD_USER_INPUT before any source is called, rather than after its parents were fetched. Which
 * fields have checks is found once per document (server/plan.ts); each request runs those checks
 * on its own variables.
 */
export function argumentChecksPlugin(checks: Record<string, ArgumentCheck>): ApolloServerPlugin<Context> {
  const plans = new DocumentPlans('argument checks', (schema, document) => checkedFields(schema, document, checks));
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, schema, operation, request, contextValue }) {
          if (!operation) return;
          const variables = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {});
          // Variable coercion errors are Apollo's to report (it already has, before this hook).
          if (variables.errors) return;
          for (const { field, node, check } of plans.of(schema, document)) {
            try {
              check(getArgumentValues(field, node, variables.coerced), contextValue.settings);
            } catch (error) {
              if (!(error instanceof GraphQLError)) throw error;
              throw new GraphQLError(error.message, {
                nodes: [node],
                extensions: { ...error.extensions, http: { status: 400 } },
              });
            }
          }
        },
      };
    },
  };
}

/** Every field of the document (each operation and fragment, as written) that has a check. */
function checkedFields(schema: GraphQLSchema, document: DocumentNode, checks: Record<string, ArgumentCheck>): CheckedField[] {
  const found: CheckedField[] = [];
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const parent = typeInfo.getParentType();
        const field = typeInfo.getFieldDef();
        const check = parent && field && checks[`${parent.name}.${field.name}`];
        if (check) found.push({ field, node, check });
      },
    }),
  );
  return found;
}
