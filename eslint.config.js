// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Import boundaries of docs/ARCHITECTURE.md, checked by the linter rather than by memory.
// attestation/ is a pure library (Node and browser): no server, database, filesystem, network,
// and nothing from the gateway or the enclave.
const attestationBoundary = {
  patterns: [
    { group: ['**/src/**', '**/enclave/**', '**/test/**', '**/bench/**'], message: 'attestation/ imports neither src/, enclave/ nor test/.' },
    { group: ['express', 'better-sqlite3', 'onnxruntime-node', 'node-forge', 'node:fs', 'node:fs/*', 'fs', 'fs/*', 'node:http', 'node:https', 'node:net', 'node:child_process', 'node:path', 'undici'], message: 'attestation/ is pure: bytes in, typed results out (no I/O).' },
  ],
};
const enclaveBoundary = {
  patterns: [
    { group: ['**/src/**', '**/test/**', '**/bench/**'], message: 'enclave/ talks to src/ only over the wire protocol.' },
  ],
};
const srcBoundary = {
  patterns: [
    { group: ['**/enclave/*', '!**/enclave/protocol.ts'], message: 'src/ may import only enclave/protocol.ts (type-only).' },
    { group: ['**/test/**', '**/bench/**'], message: 'production code never imports test/ or bench/.' },
  ],
};
const clientBoundary = {
  patterns: [
    ...srcBoundary.patterns,
    { group: ['**/gateway/**', '**/audit/store*', 'express', 'better-sqlite3'], message: 'the client and CLI verifiers stay publishable on their own.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', 'dist/**', 'web/dist/**', 'data/**', 'scratch/**', 'bin/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-deprecated': 'error',
    },
  },
  { files: ['attestation/**/*.ts'], rules: { 'no-restricted-imports': ['error', attestationBoundary] } },
  { files: ['enclave/**/*.ts'], rules: { 'no-restricted-imports': ['error', enclaveBoundary] } },
  { files: ['src/**/*.ts'], rules: { 'no-restricted-imports': ['error', srcBoundary] } },
  { files: ['src/client/**/*.ts', 'src/cli/**/*.ts'], rules: { 'no-restricted-imports': ['error', clientBoundary] } },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', '*.config.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
);
