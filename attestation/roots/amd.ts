/**
 * The AMD SEV-SNP roots (ARK), one per product line, pinned by the SHA-256 of their DER. Each ARK
 * is a self-signed RSA-4096 RSASSA-PSS certificate served by AMD KDS as the second certificate of
 * `/vcek/v1/{product}/cert_chain` (the VLEK chain carries the same ARK). See AMD.md.
 */
import type { Product } from '../amd/kds.ts';
import { AMD_ARK_GENOA_PEM } from './amd-ark-genoa.ts';
import { AMD_ARK_MILAN_PEM } from './amd-ark-milan.ts';
import { AMD_ARK_TURIN_PEM } from './amd-ark-turin.ts';
import type { PinnedRoot } from './index.ts';

export const AMD_ARK_MILAN: PinnedRoot = {
  name: 'AMD ARK-Milan',
  pem: AMD_ARK_MILAN_PEM,
  sha256: '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd',
};

export const AMD_ARK_GENOA: PinnedRoot = {
  name: 'AMD ARK-Genoa',
  pem: AMD_ARK_GENOA_PEM,
  sha256: '4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1',
};

export const AMD_ARK_TURIN: PinnedRoot = {
  name: 'AMD ARK-Turin',
  pem: AMD_ARK_TURIN_PEM,
  sha256: '1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a',
};

/** The pinned ARK of each product: a chain for one product must end in that product's ARK. */
export const AMD_ARKS: Readonly<Record<Product, PinnedRoot>> = {
  milan: AMD_ARK_MILAN,
  genoa: AMD_ARK_GENOA,
  turin: AMD_ARK_TURIN,
};
