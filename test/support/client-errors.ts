import { expect } from 'vitest';
import { TaskPoolError } from '../../lib/client/index.ts';

/** The TaskPoolError a client call rejects with (failing the test when it resolves or throws anything else). */
export async function rejection(promise: Promise<unknown>): Promise<TaskPoolError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TaskPoolError);
  return error as TaskPoolError;
}
