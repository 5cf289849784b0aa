import { catchError, type Observable, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { expect } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';

/** A TestScheduler whose marble assertions are vitest's deep equality. */
export const createTestScheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/** Errors → plain objects, so the marble diff shows (and compares) the class and both codes. */
export const describeErrors = <T>() =>
  catchError<T, Observable<never>>((err: unknown) =>
    throwError(() => ({
      class: err instanceof ProtocolError ? 'ProtocolError' : String(err),
      code: (err as ProtocolError).code,
      closeCode: (err as ProtocolError).closeCode,
    })),
  );

/** What describeErrors() makes of a ProtocolError with these codes. */
export const protocolError = (code: string, closeCode: number) => ({ class: 'ProtocolError', code, closeCode });
