import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql ships CommonJS (`main`) and ESM (`module`) builds. Node, and so Apollo, loads the
    // CommonJS one; Vite would hand our files the ESM one, and two graphql instances cannot share a
    // schema. Resolve it the way Node does.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each file gets its own database; two workers match the two cores CI has.
    maxWorkers: 2,
  },
});
