#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so the command line and the tests run the same code.
import { register } from 'tsx/esm/api';

// A reader that stops early (`| head`) is not an error of ours.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
