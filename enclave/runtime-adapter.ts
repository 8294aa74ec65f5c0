/** The model registry (enclave/runtime) seen through the server's narrow ModelRuntime interface. */
import { OipError } from './runtime/errors.ts';
import { encodeInferResponse, parseInferRequest, runInference, type OipLimits } from './runtime/oip.ts';
import type { ModelRegistry } from './runtime/registry.ts';
import { ONNXRUNTIME_VERSION } from './runtime/session.ts';
import type { ModelRuntime } from './server.ts';

/** An error the server maps to an HTTP status (OIP errors: `{ "error": ... }`). */
class RuntimeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function modelRuntime(registry: ModelRegistry, limits: Partial<OipLimits> = {}): ModelRuntime {
  const models = registry.digests();
  return {
    models,
    runtime: { name: 'onnxruntime-node', version: ONNXRUNTIME_VERSION },
    metadata(name, version) {
      return registry.has(name, version) ? registry.metadata(name, version) : undefined;
    },
    async infer(name, version, body) {
      try {
        const model = registry.get(name, version);
        const request = parseInferRequest(body, model, limits);
        const response = await runInference(model, request);
        return { response: encodeInferResponse(response), model: { name: model.name, version: model.version, sha256: model.sha256 } };
      } catch (e: unknown) {
        if (e instanceof OipError) throw new RuntimeHttpError(e.httpStatus, e.code, e.responseBody().error);
        throw e;
      }
    },
  };
}
