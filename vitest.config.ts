import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The reliability suite runs on its own after the tests (npm test, npm run reliability): its
    // load and latency bounds must not share the two cores with other test files.
    exclude: [...configDefaults.exclude, 'test/reliability/**'],
    environment: 'node',
    testTimeout: 30_000,
    pool: 'forks',
    coverage: {
      provider: 'v8',
      include: ['attestation/**/*.ts', 'src/**/*.ts', 'enclave/**/*.ts'],
      reporter: ['text-summary', 'json-summary'],
      thresholds: {
        lines: 85,
        branches: 80,
      },
    },
  },
});
