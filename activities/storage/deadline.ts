/**
 * Deadlines for calls to cloud services. A connection that is accepted and never answered (a black-holed
 * route, a half-dead NAT entry) can leave a client's call pending for minutes, or for ever: gRPC keeps
 * waiting for a channel that never becomes ready. The attempt must fail instead, retryably, so Temporal
 * retries it with a new client on a new connection.
 */

/** A call got no answer in time. Retryable: the next attempt opens a new connection. */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
}

/** Where a deadline applies, the environment variable that sets it (milliseconds), and its default. */
export const OPERATION_TIMEOUT_ENV = 'FIRESTORE_OPERATION_TIMEOUT_MS';
export const DEFAULT_OPERATION_TIMEOUT_MS = 60_000;

/** The operation deadline the environment asks for, or the default. */
export function operationTimeoutFrom(env: NodeJS.ProcessEnv): number {
  const value = Number(env[OPERATION_TIMEOUT_ENV]);
  return Number.isInteger(value) && value > 0 ? value : DEFAULT_OPERATION_TIMEOUT_MS;
}

/** `operation`'s result, or a DeadlineExceededError naming `what` once `ms` have passed without one. */
export async function withDeadline<T>(operation: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceededError(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([operation, expired]);
  } finally {
    clearTimeout(timer);
    operation.catch(() => undefined); // a late failure of the abandoned call is not an unhandled rejection
  }
}
