/**
 * A call a deadline gives up on keeps running inside the client library. Closing the client must wait for
 * it: @google-cloud/firestore starts each retry of a streaming call with `void pool.run(…)`, so a retry
 * after terminate() rejects with "The client has already been terminated" and nobody handles it (seen in
 * the cloud-fault test). Here a black-holing proxy makes a call hang past its deadline, the store is closed,
 * the proxy then lets connections through, and no unhandled rejection may appear while the abandoned call
 * retries and finishes and the client is terminated after it.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';

import type { Firestore } from '@google-cloud/firestore';

import { FirestoreDocumentStore } from '../activities/coding/firestore-document-store';
import { createFirestoreClient, FirestoreUuidTable } from '../activities/deid/firestore-uuid-table';
import { ClientCalls, ClientClosingError, DeadlineExceededError } from '../activities/storage/deadline';
import { testServers } from './helpers/environment';
import { uniqueName } from './helpers/firestore';

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

/**
 * A TCP proxy to the Firestore emulator that black-holes every connection (accepts it, reads and never
 * answers) until `heal()`, which resets the held ones, as a dead route finally does, and forwards new ones.
 */
class BlackHoleProxy {
  private readonly server: Server = createServer((client) => this.accept(client));
  private readonly sockets = new Set<Socket>();
  private healed = false;
  held = 0;
  forwarded = 0;

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    return this;
  }

  get host(): string {
    return `127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  heal(): void {
    this.healed = true;
    for (const socket of this.sockets) socket.resetAndDestroy();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): Socket {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined); // resets are what this proxy is for
    return socket;
  }

  private accept(client: Socket): void {
    this.track(client);
    if (!this.healed) {
      this.held += 1;
      return void client.resume();
    }
    this.forwarded += 1;
    const [host, port] = testServers.firestoreEmulatorHost.split(':');
    const upstream = this.track(connect({ host: host!, port: Number(port) }));
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
}

/** A client through `proxy` whose library calls and terminate() are watched. */
function watchedClient(proxy: BlackHoleProxy, projectId: string): { firestore: Firestore; libraryCalls: Array<Promise<unknown>>; settled: () => boolean; terminatedAfterCalls: () => boolean | undefined } {
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
  let proxy: BlackHoleProxy;
  beforeEach(async () => {
    proxy = await new BlackHoleProxy().start();
  });
  afterEach(() => proxy.close());

  /** Runs `read` into the black hole, closes with `close` and heals the route; checks what follows. */
  async function abandonThenClose(watched: ReturnType<typeof watchedClient>, read: () => Promise<unknown>, close: () => Promise<void>): Promise<void> {
    await assert.rejects(read(), /no answer within 300 ms/); // the UUID table rebuilds errors without identifiers
    assert.ok(proxy.held > 0, 'the call went into the black hole');
    assert.equal(watched.libraryCalls.length, 1);
    const closing = close();
    await assert.rejects(read(), /closed while a call was still running/);
    assert.equal(watched.libraryCalls.length, 1, 'no new library call once closing');
    // The held connection is reset: the library retries the abandoned call on a new one, which now passes.
    proxy.heal();
    await closing;
    await until('the abandoned library call to settle', watched.settled);
    await until('the client to be terminated', () => watched.terminatedAfterCalls() !== undefined);
    assert.equal(watched.terminatedAfterCalls(), true, 'terminated only after the abandoned call settled');
    assert.ok(proxy.forwarded > 0, 'the library retried the abandoned call');
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
