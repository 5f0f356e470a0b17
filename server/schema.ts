import { readdirSync, readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import type { GraphQLSchema } from 'graphql';
import { gql } from 'graphql-tag';
import { resolvers } from '../resolvers/index.ts';

const SCHEMA_DIR = new URL('../schema/', import.meta.url);

/** The SDL of every schema/*.graphql file, in file-name order (the same input codegen reads). */
export function schemaSource(): string {
  return readdirSync(SCHEMA_DIR)
    .filter((name) => name.endsWith('.graphql'))
    .sort()
    .map((name) => readFileSync(new URL(name, SCHEMA_DIR), 'utf8'))
    .join('\n');
}

/** The Federation 2 subgraph schema: SDL files plus the typed resolver map. */
export function buildSchema(): GraphQLSchema {
  return buildSubgraphSchema([{ typeDefs: gql(schemaSource()), resolvers: resolvers as GraphQLResolverMap<unknown> }]);
}
