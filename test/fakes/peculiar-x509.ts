/** @peculiar/x509, loaded once for the test fakes that mint certificates and CRLs. */
import type * as X509 from '@peculiar/x509';

/**
 * @peculiar/x509 needs a Reflect metadata polyfill (its DI container, tsyringe, checks for
 * Reflect.getMetadata at load time). The repository carries none, so the few functions tsyringe
 * uses are provided here before the library is loaded; they only back the library's own decorators.
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
  const getOwn = (key: unknown, target: object): unknown => store.get(target)?.get(key);
  const get = (key: unknown, target: object): unknown => {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const m = store.get(t);
      if (m?.has(key) === true) return m.get(key);
    }
    return undefined;
  };
  R['defineMetadata'] = (key: unknown, value: unknown, target: object): void => {
    own(target).set(key, value);
  };
  R['getOwnMetadata'] = getOwn;
  R['getMetadata'] = get;
  R['hasOwnMetadata'] = (key: unknown, target: object): boolean => store.get(target)?.has(key) === true;
  R['metadata'] =
    (key: unknown, value: unknown) =>
    (target: object): void => {
      own(target).set(key, value);
    };
}
installReflectMetadata();
export const x509: typeof X509 = await import('@peculiar/x509');
