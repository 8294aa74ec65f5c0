#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so the command line and the tests run the same code.
import { register } from 'tsx/esm/api';

// A reader that stops early (`| head`) is not an error of ours.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});
register();
// The enclave runtime is its own program (it runs inside the TEE and shares no code path with the
// gateway but the wire protocol), reached through the same command for convenience.
const command = process.argv[2];
if (command === 'enclave') {
  const { enclaveMain } = await import('../enclave/main.ts');
  process.exitCode = await enclaveMain(process.argv.slice(3));
} else if (command === 'start' || command === 'gateway' || command === 'keys' || command === 'log') {
  // The gateway and its store live apart from the verifier CLI (src/cli), which stays free of them.
  const { gatewayMain } = await import('../src/gateway/main.ts');
  process.exitCode = await gatewayMain(command, process.argv.slice(3));
} else {
  const { main } = await import('../src/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
