import { AttestationError } from '../../attestation/errors.ts';

/** The AttestationError that `fn` throws; fails the test if it throws nothing or something else. */
export function errorOf(fn: () => unknown): AttestationError {
  try {
    fn();
  } catch (e: unknown) {
    if (AttestationError.is(e)) return e;
    throw new Error(`not an AttestationError: ${String(e)}`);
  }
  throw new Error('did not throw');
}
