/**
 * @peculiar/x509, loaded once for the simulated TEE's PKIs (certificates and CRLs minted at run
 * time). enclave/ may not import test/, so this repeats the few lines of test/fakes/peculiar-x509.ts.
 */
import type * as X509 from '@peculiar/x509';

/**
 * @peculiar/x509's DI container (tsyringe) looks for Reflect.getMetadata when the library loads.
 * The repository carries no reflect-metadata package, so the handful of functions tsyringe calls
 * are provided here before the import; they only back the library's own decorators. If a real
 * polyfill (or the test fakes' copy) got there first, it is left alone.
 */
function installReflectMetadata(): void {
  const R = Reflect as unknown as Record<string, unknown>;
  if (typeof R['getMetadata'] === 'function') return;
  const store = new WeakMap<object, Map<unknown, unknown>>();
  const own = (target: object): Map<unknown, unknown> => {
    let m = store.get(target);
    if (m === undefined) {
      m = new Map();
      store.set(target, m);
    }
    return m;
  };
  R['defineMetadata'] = (key: unknown, value: unknown, target: object): void => {
    own(target).set(key, value);
  };
  R['getOwnMetadata'] = (key: unknown, target: object): unknown => store.get(target)?.get(key);
  R['getMetadata'] = (key: unknown, target: object): unknown => {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const m = store.get(t);
      if (m?.has(key) === true) return m.get(key);
    }
    return undefined;
  };
  R['hasOwnMetadata'] = (key: unknown, target: object): boolean => store.get(target)?.has(key) === true;
  R['metadata'] =
    (key: unknown, value: unknown) =>
    (target: object): void => {
      own(target).set(key, value);
    };
}
installReflectMetadata();
export const x509: typeof X509 = await import('@peculiar/x509');
// Node 20's WebCrypto; keys are always passed in as CryptoKeys of this provider.
x509.cryptoProvider.set(globalThis.crypto);
