import type { ApolloServerPlugin } from '@apollo/server';
import { getArgumentValues, getVariableValues, GraphQLError, TypeInfo, visit, visitWithTypeInfo } from 'graphql';
import type { Context, Settings } from './context.ts';

export type ArgumentCheck = (args: Record<string, unknown>, settings: Settings) => unknown;

/**
 * Runs each field's argument check (by schema coordinate, e.g. `CommerceProfile.orders`) over the
 * whole operation before execution, so a bad argument anywhere fails the request with its
 * BAD_USER_INPUT before any source is called, rather than after its parents were fetched.
 */
export function argumentChecksPlugin(checks: Record<string, ArgumentCheck>): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, schema, operation, request, contextValue }) {
          if (!operation) return;
          const variables = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {});
          // Variable coercion errors are Apollo's to report (it already has, before this hook).
          if (variables.errors) return;
          const typeInfo = new TypeInfo(schema);
          visit(
            document,
            visitWithTypeInfo(typeInfo, {
              Field(node) {
                const parent = typeInfo.getParentType();
                const field = typeInfo.getFieldDef();
                const check = parent && field && checks[`${parent.name}.${field.name}`];
                if (!check) return;
                try {
                  check(getArgumentValues(field, node, variables.coerced), contextValue.settings);
                } catch (error) {
                  if (!(error instanceof GraphQLError)) throw error;
                  throw new GraphQLError(error.message, {
                    nodes: [node],
                    extensions: { ...error.extensions, http: { status: 400 } },
                  });
                }
              },
            }),
          );
        },
      };
    },
  };
}
