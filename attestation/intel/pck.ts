/**
 * The Intel SGX extension of PCK certificates (OID 1.2.840.113741.1.13.1): the platform's TCB
 * (16 SGX TCB component SVNs, PCESVN, CPUSVN), PCE-ID and FMSPC, which TCB matching compares with
 * the TCB info. Structure per "Intel SGX PCK Certificate and CRL Profile".
 */
import { DerReader, TAG, decodeOid } from '../common/der.ts';
import type { Certificate } from '../common/x509.ts';
import { VerificationError } from '../errors.ts';

const SGX_EXT = '1.2.840.113741.1.13.1';
const REASON = 'malformed_pck_certificate';

export interface PckExtensions {
  readonly ppid: Uint8Array | undefined;
  /** The 16 SGX TCB component SVNs, in order. */
  readonly tcbComponents: Uint8Array;
  readonly pceSvn: number;
  readonly cpuSvn: Uint8Array;
  readonly pceId: Uint8Array;
  readonly fmspc: Uint8Array;
  readonly sgxType: number;
}

function bad(msg: string): VerificationError {
  return new VerificationError('ERR_EVIDENCE_MALFORMED', `PCK certificate SGX extension: ${msg}`, { reason: REASON });
}

function intValue(r: DerReader, what: string): number {
  const t = r.next();
  if ((t.tag !== TAG.INTEGER && t.tag !== TAG.ENUMERATED) || t.value.length === 0 || t.value.length > 3) throw bad(`${what} is not a small integer`);
  if (((t.value[0] as number) & 0x80) !== 0) throw bad(`${what} is negative`);
  let n = 0;
  for (const b of t.value) n = n * 256 + b;
  return n;
}

export function pckExtensions(cert: Certificate): PckExtensions {
  const ext = cert.extensions.find((e) => e.oid === SGX_EXT);
  if (ext === undefined) throw bad('missing (not a PCK certificate)');
  const top = new DerReader(ext.value, 'PCK SGX extension', REASON);
  const seq = top.children(top.expect(TAG.SEQUENCE, 'SGX Extensions'));
  top.end('SGX Extensions');
  let ppid: Uint8Array | undefined;
  let tcb: { comps: Uint8Array; pceSvn: number; cpuSvn: Uint8Array } | undefined;
  let pceId: Uint8Array | undefined;
  let fmspc: Uint8Array | undefined;
  let sgxType: number | undefined;
  while (!seq.done) {
    const item = seq.children(seq.expect(TAG.SEQUENCE, 'SGX extension item'));
    const oid = decodeOid(item.expect(TAG.OID, 'item id').value);
    switch (oid) {
      case `${SGX_EXT}.1`:
        ppid = item.expect(TAG.OCTET_STRING, 'PPID').value.slice();
        break;
      case `${SGX_EXT}.2`: {
        const list = item.children(item.expect(TAG.SEQUENCE, 'TCB'));
        const comps = new Uint8Array(16);
        const seen = new Set<string>();
        let pceSvn: number | undefined;
        let cpuSvn: Uint8Array | undefined;
        while (!list.done) {
          const c = list.children(list.expect(TAG.SEQUENCE, 'TCB component'));
          const cOid = decodeOid(c.expect(TAG.OID, 'TCB component id').value);
          if (seen.has(cOid)) throw bad(`duplicate TCB component ${cOid}`);
          seen.add(cOid);
          const idx = Number(cOid.slice(`${SGX_EXT}.2.`.length));
          if (!cOid.startsWith(`${SGX_EXT}.2.`) || !Number.isInteger(idx)) throw bad(`unexpected TCB item ${cOid}`);
          if (idx >= 1 && idx <= 16) {
            const v = intValue(c, `SGX TCB comp ${idx}`);
            if (v > 255) throw bad(`SGX TCB comp ${idx} is ${v}, want 0..255`);
            comps[idx - 1] = v;
          } else if (idx === 17) {
            pceSvn = intValue(c, 'PCESVN');
            if (pceSvn > 0xffff) throw bad('PCESVN out of range');
          } else if (idx === 18) {
            cpuSvn = c.expect(TAG.OCTET_STRING, 'CPUSVN').value.slice();
            if (cpuSvn.length !== 16) throw bad('CPUSVN must be 16 bytes');
          } else throw bad(`unexpected TCB item ${cOid}`);
          c.end('TCB component');
        }
        if (seen.size !== 18 || pceSvn === undefined || cpuSvn === undefined) throw bad('TCB must have 16 components, PCESVN and CPUSVN');
        tcb = { comps, pceSvn, cpuSvn };
        break;
      }
      case `${SGX_EXT}.3`:
        pceId = item.expect(TAG.OCTET_STRING, 'PCE-ID').value.slice();
        if (pceId.length !== 2) throw bad('PCE-ID must be 2 bytes');
        break;
      case `${SGX_EXT}.4`:
        fmspc = item.expect(TAG.OCTET_STRING, 'FMSPC').value.slice();
        if (fmspc.length !== 6) throw bad('FMSPC must be 6 bytes');
        break;
      case `${SGX_EXT}.5`:
        sgxType = intValue(item, 'SGX Type');
        break;
      default:
        // Later items (PlatformInstanceID, Configuration) are not needed for verification.
        item.next();
    }
  }
  if (tcb === undefined || pceId === undefined || fmspc === undefined || sgxType === undefined) {
    throw bad('TCB, PCE-ID, FMSPC and SGX Type are required');
  }
  return { ppid, tcbComponents: tcb.comps, pceSvn: tcb.pceSvn, cpuSvn: tcb.cpuSvn, pceId, fmspc, sgxType };
}
