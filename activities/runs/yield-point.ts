/**
 * Long CPU-bound work (rendering charts, adding up a dataset, generating rows) runs on the event loop, so
 * while it runs no timer fires: the activity's keep-alive heartbeat is not sent and a cancellation, which
 * arrives with a heartbeat's answer, is never seen. Such work calls a yield point between its units.
 */

/** The cancellation as an error: the signal's reason when it is one. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(typeof signal.reason === 'string' ? signal.reason : 'the activity was cancelled');
}

/** Gives the event loop a turn (heartbeats go out, a cancellation comes in), then throws if `signal` was aborted. */
export async function yieldToEventLoop(signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw abortReason(signal);
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * A yield point for a loop of many small units: checks `signal` every call, and gives the event loop a turn
 * only when `everyMs` have passed since the last one, so a tight loop pays almost nothing for it.
 */
export function yieldPoint(signal?: AbortSignal, everyMs = 50): () => Promise<void> {
  let last = Date.now();
  return async () => {
    if (signal?.aborted) throw abortReason(signal);
    if (Date.now() - last < everyMs) return;
    await yieldToEventLoop(signal);
    last = Date.now();
  };
}
