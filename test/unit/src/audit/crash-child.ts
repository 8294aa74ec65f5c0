/**
 * Child process of crash.test.ts: appends forever in concurrent bursts, prints every acknowledged
 * append as `ack <index> <leaf hash hex>` and every checkpoint as `cp <base64 of the note>`, and
 * waits to be killed with SIGKILL. Usage: node --import tsx crash-child.ts <db path> <seed hex>
 */
import { toHex } from '../../../../attestation/common/bytes.ts';
import { openLog } from '../../../../src/audit/log.ts';

const [path, seedHex] = process.argv.slice(2);
if (path === undefined || seedHex === undefined) throw new Error('usage: crash-child.ts <db path> <seed hex>');
const origin = 'crash.example/log';
const log = openLog({ path, origin, signer: { name: origin, privateKey: Uint8Array.from(Buffer.from(seedHex, 'hex')) } });
const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
out(`ready ${log.size()}`);

let seq = 0;
for (;;) {
  const burst = 1 + Math.floor(Math.random() * 64);
  await Promise.all(
    Array.from({ length: burst }, async () => {
      const r = await log.append(new TextEncoder().encode(`pid ${process.pid} seq ${seq++}`));
      out(`ack ${r.index} ${toHex(r.leafHash)}`);
    }),
  );
  if (Math.random() < 0.1) out(`cp ${Buffer.from(log.checkpoint().note).toString('base64')}`);
}
