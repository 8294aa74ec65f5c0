import { fileURLToPath } from 'node:url';
import type { LoadedModel } from '../../../../enclave/runtime/manifest.ts';
import { sha256Hex } from '../../../../enclave/runtime/manifest.ts';

/** The repository's models/ directory (the shipped Iris model and its manifest). */
export const MODELS_DIR = fileURLToPath(new URL('../../../../models/', import.meta.url));

/** A LoadedModel for bytes minted in a test, with the digest they really have. */
export function loaded(bytes: Uint8Array, name = 'test', version = '1'): LoadedModel {
  return { name, version, file: `${name}/${version}/model.onnx`, sha256: sha256Hex(bytes), path: '(memory)', bytes };
}
