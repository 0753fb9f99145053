/**
 * A call a deadline gives up on keeps running inside the client library. Closing the client must wait for
 * it: @google-cloud/firestore starts each retry of a streaming call with `void pool.run(…)`, so a retry
 * after terminate() rejects with "The client has already been terminated" and nobody handles it (seen in
 * the cloud-fault test). Here a proxy that black-holes every connection makes a call hang past its
 * deadline, the store is closed, the proxy then heals, and no unhandled rejection may appear while the
 * abandoned call retries and finishes and the client is terminated after it.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';

import { Firestore } from '@google-cloud/firestore';

import { FirestoreDocumentStore } from '../activities/coding/firestore-document-store';
import { createFirestoreClient, FirestoreUuidTable } from '../activities/deid/firestore-uuid-table';
import { BadInputError } from '../activities/errors';
import { ClientCalls, ClientClosingError, DeadlineExceededError } from '../activities/storage/deadline';
import { testServers } from './helpers/environment';
import { FaultProxy } from './helpers/fault-proxy';
import { deniedFirestore, uniqueName } from './helpers/firestore';

/** Resolves once `done()` holds, or fails naming `what` after `ms`. */
async function until(what: string, done: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Lets rejections left unhandled so far be reported: Node reports them once the microtask queue drains. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Every unhandled rejection while the file runs. */
const unhandled: unknown[] = [];
const recordUnhandled = (reason: unknown): void => void unhandled.push(reason);
before(() => void process.on('unhandledRejection', recordUnhandled));
after(() => void process.off('unhandledRejection', recordUnhandled));

/** A client through `proxy` whose library calls and terminate() are watched. */
function watchedClient(proxy: FaultProxy, projectId: string): { firestore: Firestore; libraryCalls: Array<Promise<unknown>>; settled: () => boolean; terminatedAfterCalls: () => boolean | undefined } {
  const firestore = createFirestoreClient({ projectId, emulatorHost: proxy.host });
  const libraryCalls: Array<Promise<unknown>> = [];
  let settledCount = 0;
  let terminatedAfterCalls: boolean | undefined;
  // The promise the library returns for getAll (both stores' reads, and DocumentReference.get, go through it).
  const getAll = firestore.getAll.bind(firestore);
  firestore.getAll = ((...args: Parameters<Firestore['getAll']>) => {
    const call = getAll(...args);
    libraryCalls.push(call);
    const settle = (): void => void (settledCount += 1);
    call.then(settle, settle);
    return call;
  }) as Firestore['getAll'];
  const terminate = firestore.terminate.bind(firestore);
  firestore.terminate = () => {
    terminatedAfterCalls = settledCount === libraryCalls.length;
    return terminate();
  };
  return { firestore, libraryCalls, settled: () => settledCount === libraryCalls.length, terminatedAfterCalls: () => terminatedAfterCalls };
}

describe('ClientCalls', () => {
  it('closes the client only after a call its deadline gave up on has settled, and refuses new calls meanwhile', async () => {
    const calls = new ClientCalls('a store', 30);
    let finish!: (error: Error) => void;
    const abandoned = new Promise<never>((_, reject) => (finish = reject));
    await assert.rejects(
      calls.run(() => abandoned),
      (err: Error) => err instanceof DeadlineExceededError && err.message === 'a store: no answer within 30 ms',
    );
    assert.equal(calls.size, 1, 'the abandoned call is still running');

    let closedClient = 0;
    const closing = calls.close(() => Promise.resolve(void (closedClient += 1)), 30);
    await assert.rejects(
      calls.run(() => Promise.resolve(1)),
      (err: Error) => err instanceof ClientClosingError && err.message === 'a store: closed while a call was still running',
    );
    assert.throws(() => calls.checkOpen(), ClientClosingError);
    await closing; // returns after its wait, the call still running
    assert.equal(closedClient, 0, 'not closed under a running call');

    finish(new Error('The client has already been terminated')); // the library's late failure: handled, not reported
    await until('the client to be closed', () => closedClient === 1);
    assert.equal(calls.size, 0);
    await calls.close(() => Promise.resolve(void (closedClient += 1)), 30);
    assert.equal(closedClient, 1, 'closed once');
    await nextTurn();
    assert.deepEqual(unhandled, []);
  });

  it('closes at once when no call is running, and a failing close is not an error', async () => {
    const calls = new ClientCalls('a store', 1_000);
    assert.equal(await calls.run(() => Promise.resolve(42)), 42);
    await calls.close(() => Promise.reject(new Error('already closed')), 1_000);
    await nextTurn();
    assert.deepEqual(unhandled, []);
  });
});

describe('Firestore stores: a call abandoned by its deadline leaves no unhandled rejection after close', () => {
  let proxy: FaultProxy;
  beforeEach(async () => {
    const [host, port] = testServers.firestoreEmulatorHost.split(':');
    // Every connection black-holed until heal(): accepted, read, never answered.
    proxy = await new FaultProxy({ target: { host: host!, port: Number(port) }, seed: 1, faultRate: 1, kinds: ['drop'] }).start();
  });
  afterEach(() => proxy.close());

  /** Runs `read` into the black hole, closes with `close` and heals the route; checks what follows. */
  async function abandonThenClose(watched: ReturnType<typeof watchedClient>, read: () => Promise<unknown>, close: () => Promise<void>): Promise<void> {
    await assert.rejects(read(), /no answer within 300 ms/); // the UUID table rebuilds errors without identifiers
    assert.ok(proxy.counters.dropped > 0, 'the call went into the black hole');
    assert.equal(watched.libraryCalls.length, 1);
    const closing = close();
    await assert.rejects(read(), /closed while a call was still running/);
    assert.equal(watched.libraryCalls.length, 1, 'no new library call once closing');
    // The black-holed connection is reset: the library retries the abandoned call on a new one, which passes.
    proxy.heal();
    await closing;
    await until('the abandoned library call to settle', watched.settled);
    await until('the client to be terminated', () => watched.terminatedAfterCalls() !== undefined);
    assert.equal(watched.terminatedAfterCalls(), true, 'terminated only after the abandoned call settled');
    assert.ok(proxy.counters.passed > 0, 'the library retried the abandoned call');
    await until('the terminated client to close its connections', () => proxy.openConnections === 0);
    await nextTurn();
    assert.deepEqual(
      unhandled.map((reason) => String(reason)),
      [],
    );
  }

  it('the Coda document store', async () => {
    const watched = watchedClient(proxy, uniqueName('abandoned-coda'));
    const documents = new FirestoreDocumentStore(watched.firestore, 'Coda store (abandoned call)', 300);
    await abandonThenClose(watched, () => documents.getAll(['segment_counts/x']), () => documents.close());
  });

  it('the UUID table', async () => {
    const watched = watchedClient(proxy, uniqueName('abandoned-uuids'));
    const table = new FirestoreUuidTable({ firestore: watched.firestore, table: 'abandoned', uuidPrefix: 'avf-phone-uuid-', operationTimeoutMs: 300 });
    await abandonThenClose(watched, () => table.dataToUuids(['tel:+254722000101']), () => table.close(300));
  });
});

describe('Firestore stores: a failed query leaves no unhandled rejection', () => {
  it('the Coda document store, on a query the server refuses', async () => {
    // A read-only transaction's first read also makes a promise of its transaction id, which nobody awaits
    // when the read fails (the library skips rollback for read-only transactions): the store must not use one.
    const { firestore, projectId } = await deniedFirestore('denied-query');
    const documents = new FirestoreDocumentStore(firestore, `Coda store (Firestore project "${projectId}")`);
    try {
      await assert.rejects(documents.query('datasets/x/messages', { select: ['Labels'] }), (err: Error) => err instanceof BadInputError && err.message.includes('permission denied'));
      await nextTurn();
      assert.deepEqual(
        unhandled.map((reason) => String(reason)),
        [],
      );
    } finally {
      await documents.close();
    }
  });
});
