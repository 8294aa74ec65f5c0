import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
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
