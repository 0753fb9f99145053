/** Deadlines on cloud calls: an answer in time passes through; none in time is a retryable failure. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { toFailure } from '../activities/runs/activity-wrapper';
import { DeadlineExceededError, DEFAULT_OPERATION_TIMEOUT_MS, OPERATION_TIMEOUT_ENV, operationTimeoutFrom, withDeadline } from '../activities/storage/deadline';

describe('withDeadline', () => {
  it('returns an answer that comes in time', async () => {
    assert.equal(await withDeadline(Promise.resolve(42), 1_000, 'a call'), 42);
  });

  it('fails a call with no answer, naming it, as a retryable activity failure', async () => {
    const never = new Promise<never>(() => undefined);
    const started = Date.now();
    const err = await withDeadline(never, 50, 'Coda store (Firestore project "p")').catch((error: unknown) => error);
    assert.ok(err instanceof DeadlineExceededError);
    assert.match(err.message, /Coda store \(Firestore project "p"\): no answer within 50 ms/);
    assert.ok(Date.now() - started >= 45);
    assert.equal(toFailure(err, 1).nonRetryable, false);
  });

  it('reads its deadline from the environment, with a default', () => {
    assert.equal(operationTimeoutFrom({ [OPERATION_TIMEOUT_ENV]: '5000' }), 5_000);
    assert.equal(operationTimeoutFrom({}), DEFAULT_OPERATION_TIMEOUT_MS);
    assert.equal(operationTimeoutFrom({ [OPERATION_TIMEOUT_ENV]: 'soon' }), DEFAULT_OPERATION_TIMEOUT_MS);
  });
});
