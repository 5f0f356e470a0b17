import js from '@eslint/js';
import graphql from '@graphql-eslint/eslint-plugin';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig([
  globalIgnores(['resolvers/generated/', 'dist/', 'bench/results/', 'coverage/']),
  { files: ['**/*.js'], extends: [js.configs.recommended] },
  {
    files: ['**/*.ts'],
    // Type-aware: floating and misused promises, awaits of non-promises and needless assertions are
    // the mistakes a type checker alone lets through.
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A leading underscore marks a parameter or element a signature requires but this code ignores.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Off: an `async` function without `await` is how a resolver or fake states it returns a promise.
      '@typescript-eslint/require-await': 'off',
      // Off: our interfaces declare functions in method syntax (batch functions, observers) that never
      // use `this`; pino's methods, which do, are called with `.call(logger, ...)`.
      '@typescript-eslint/unbound-method': 'off',
      // Off: flags the deliberate `String(value)` of untyped upstream and client values, whose
      // worst case is a key that matches nothing.
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    // Off: tests (and benchmarks) read GraphQL responses and upstream bodies as untyped JSON on
    // purpose, where typing each access would add casts, not safety. Production code has no `any`:
    // what arrives untyped (arguments, parents, request bodies) is `unknown` and narrowed.
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['schema/*.graphql'],
    languageOptions: { parser: graphql.parser, parserOptions: { graphQLConfig: { schema: 'schema/*.graphql' } } },
    plugins: { '@graphql-eslint': graphql },
    rules: {
      // Descriptions on every type, directive and root field, names by convention, no unreachable or
      // unknown types, and only known directives (federation's, through its @link, and our own).
      ...graphql.configs['flat/schema-recommended'].rules,
      // Off: one-line descriptions are written inline ("..."), longer ones as blocks; both are ours.
      '@graphql-eslint/description-style': 'off',
      // Off: value types (DecimalMoney, RFM scores, trait results) have no identity of their own, and a
      // made-up id would tell a gateway's cache they do.
      '@graphql-eslint/strict-id-in-types': 'off',
    },
  },
]);
