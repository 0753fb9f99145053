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

/** A call asked of a client that is closing. Retryable: the next attempt opens a new client. */
export class ClientClosingError extends Error {
  override readonly name = 'ClientClosingError';
}

/**
 * The calls made through one client, so that it is closed only once none of them is still running. A call
 * a deadline gave up on keeps running inside the client library, its own retries included; closing the
 * client under it makes the library's next retry fail, and @google-cloud/firestore drops that rejection
 * unhandled (its streaming calls start each retry with `void pool.run(…)`), which fails a test and would
 * kill a worker that did not log them. A late answer to an abandoned call is simply discarded.
 */
export class ClientCalls {
  private readonly running = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;

  constructor(
    /** Names the client in errors (`Coda store (Firestore project "p")`). */
    private readonly what: string,
    /** Each call must answer within this, or its attempt fails retryably. */
    private readonly timeoutMs: number,
  ) {}

  /** Calls still running, abandoned ones included. */
  get size(): number {
    return this.running.size;
  }

  /** Starts `operation` and returns its result, or a DeadlineExceededError once the deadline passes. */
  run<T>(operation: () => Promise<T>): Promise<T> {
    let call: Promise<T>;
    try {
      this.checkOpen();
      call = operation();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    this.running.add(call);
    const forget = (): void => void this.running.delete(call);
    call.then(forget, forget);
    return withDeadline(call, this.timeoutMs, this.what);
  }

  /**
   * Throws once the client is closing. Work an abandoned call would still start (a loop's next chunk, a
   * transaction's next attempt) calls this first, so it stops instead of keeping the client open.
   */
  checkOpen(): void {
    if (this.closing) throw new ClientClosingError(`${this.what}: closed while a call was still running`);
  }

  /**
   * Closes the client with `close` once every call has settled, waiting at most `waitMs` for that. A call
   * still hanging on a dead connection then ends by its own timeout, and the client closes after it.
   */
  close(close: () => Promise<void>, waitMs: number): Promise<void> {
    this.closing ??= (async () => {
      const closed = Promise.allSettled([...this.running]).then(close);
      await withDeadline(closed, waitMs, `${this.what}: closing`).catch(() => undefined);
    })();
    return this.closing;
  }
}
