/**
 * The fault-injecting proxy the cloud-fault tests put between the clients and the emulators: it forwards
 * bytes intact, injects each kind of fault as planned (delay, reset after N bytes, drop), ~30 % of
 * connections by default with every kind in each deck of ten, the same sequence for the same seed, heal()
 * ends the faults, and close() leaves no socket open.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { FaultProxy, type FaultProxyOptions } from './helpers/fault-proxy';

/** What a client saw of one exchange: the bytes it got back, how the connection ended, and when. */
interface Exchange {
  received: Buffer;
  ending: 'end' | 'error' | 'gave-up';
  errorCode?: string;
  ms: number;
}

/** Sends `data`, half-closes, and collects the reply until the connection ends or `giveUpMs` passes with no end. */
function exchange(port: number, data: Buffer, giveUpMs = 10_000): Promise<Exchange> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ending: Exchange['ending'], errorCode?: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), ending, ms: Date.now() - started, ...(errorCode ? { errorCode } : {}) });
    };
    const timer = setTimeout(() => done('gave-up'), giveUpMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => done('end'));
    socket.on('error', (err: NodeJS.ErrnoException) => done('error', err.code));
    socket.end(data);
  });
}

describe('fault proxy', () => {
  let echo: Server;
  let echoPort: number;
  const proxies: FaultProxy[] = [];
  const serverSockets = new Set<Socket>();

  before(async () => {
    // Echoes everything back and half-closes when the client does: a request/reply protocol in miniature.
    echo = createServer({ allowHalfOpen: true }, (socket) => {
      serverSockets.add(socket);
      socket.on('close', () => serverSockets.delete(socket));
      socket.on('error', () => undefined);
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as { port: number }).port;
  });
  after(async () => {
    await Promise.all(proxies.map((proxy) => proxy.close()));
    for (const socket of serverSockets) socket.destroy();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  async function proxy(options: Omit<FaultProxyOptions, 'target'>): Promise<FaultProxy> {
    const started = await new FaultProxy({ target: { host: '127.0.0.1', port: echoPort }, ...options }).start();
    proxies.push(started);
    return started;
  }

  it('forwards bytes intact in both directions on a passing connection', async () => {
    const passing = await proxy({ seed: 1, faultRate: 0 });
    const data = randomBytes(3 * 1024 * 1024);
    const result = await exchange(passing.port, data);
    assert.equal(result.ending, 'end');
    assert.ok(result.received.equals(data), `got ${result.received.length} of ${data.length} bytes back`);
    assert.deepEqual({ passed: passing.counters.passed, faults: passing.faults }, { passed: 1, faults: 0 });
    assert.equal(passing.counters.bytesToTarget, data.length);
    assert.equal(passing.counters.bytesToClient, data.length);
  });

  it('plans about 30 % faults, every kind in each ten connections, the same for the same seed', async () => {
    const plansOf = (seed: number): string[] => {
      const planner = new FaultProxy({ target: { host: '127.0.0.1', port: echoPort }, seed });
      const accept = (planner as unknown as { nextPlan(): { kind: string } }).nextPlan.bind(planner);
      return Array.from({ length: 100 }, () => accept().kind);
    };
    const plans = plansOf(42);
    assert.deepEqual(plansOf(42), plans);
    assert.notDeepEqual(plansOf(43), plans);
    for (let deck = 0; deck < 10; deck++) {
      const kinds = plans.slice(deck * 10, deck * 10 + 10);
      assert.equal(kinds.filter((kind) => kind !== 'pass').length, 3, `deck ${deck}: ${kinds.join(',')}`);
      for (const kind of ['delay', 'reset', 'drop']) assert.ok(kinds.includes(kind), `deck ${deck} has a ${kind}`);
    }
  });

  it('resets a connection after the planned number of bytes', async () => {
    const resetting = await proxy({ seed: 2, faultRate: 1, kinds: ['reset'], resetAfterBytes: [1000, 1000] });
    const result = await exchange(resetting.port, randomBytes(64 * 1024));
    assert.equal(result.ending, 'error');
    assert.equal(result.errorCode, 'ECONNRESET');
    assert.ok(result.received.length <= 1000, `${result.received.length} bytes came back through a connection reset after 1000`);
    assert.equal(resetting.counters.reset, 1);
    assert.equal(resetting.counters.bytesToTarget + resetting.counters.bytesToClient, 1000);
  });

  it('drops a connection: accepted, never answered, until the client gives up', async () => {
    const dropping = await proxy({ seed: 3, faultRate: 1, kinds: ['drop'] });
    const result = await exchange(dropping.port, Buffer.from('hello?'), 500);
    assert.equal(result.ending, 'gave-up');
    assert.equal(result.received.length, 0);
    assert.equal(dropping.counters.dropped, 1);
    assert.equal(dropping.counters.bytesToTarget, 0);
  });

  it('delays a connection by the planned time, then forwards it intact', async () => {
    const delaying = await proxy({ seed: 4, faultRate: 1, kinds: ['delay'], delayMs: [400, 400] });
    const data = randomBytes(1024);
    const result = await exchange(delaying.port, data);
    assert.equal(result.ending, 'end');
    assert.ok(result.received.equals(data));
    assert.ok(result.ms >= 390, `answered after ${result.ms} ms`);
    assert.deepEqual(delaying.plans, [{ kind: 'delay', ms: 400 }]);
  });

  it('delays single chunks of passing connections without reordering them', async () => {
    const slow = await proxy({ seed: 5, faultRate: 0, chunkDelayRate: 0.5, chunkDelayMs: [1, 20] });
    const data = randomBytes(512 * 1024);
    const result = await exchange(slow.port, data);
    assert.ok(result.received.equals(data));
    assert.ok(slow.counters.chunksDelayed > 0);
  });

  it('draws faults per exchange on a kept-alive connection: each request its own plan', async () => {
    const perExchange = await proxy({ seed: 7, faultsPer: 'exchange', kinds: ['delay'], delayMs: [100, 100] });
    const socket = connect({ host: '127.0.0.1', port: perExchange.port });
    socket.on('error', () => undefined);
    const replies: Buffer[] = [];
    let waiting: (() => void) | undefined;
    socket.on('data', (chunk: Buffer) => {
      replies.push(chunk);
      waiting?.();
    });
    for (let request = 0; request < 10; request++) {
      const answered = new Promise<void>((resolve) => (waiting = resolve));
      socket.write(`request ${request}`);
      await answered;
    }
    socket.destroy();
    assert.equal(Buffer.concat(replies).toString(), Array.from({ length: 10 }, (_, request) => `request ${request}`).join(''));
    assert.equal(perExchange.counters.connections, 1);
    assert.deepEqual({ passed: perExchange.counters.passed, delayed: perExchange.counters.delayed }, { passed: 7, delayed: 3 });
  });

  it('drops an exchange: the connection is black-holed from then on', async () => {
    const dropping = await proxy({ seed: 8, faultsPer: 'exchange', faultRate: 1, kinds: ['drop'] });
    const result = await exchange(dropping.port, Buffer.from('anyone?'), 500);
    assert.equal(result.ending, 'gave-up');
    assert.equal(result.received.length, 0);
    assert.deepEqual({ dropped: dropping.counters.dropped, bytesToTarget: dropping.counters.bytesToTarget }, { dropped: 1, bytesToTarget: 0 });
  });

  it('heal() resets black-holed connections and lets later ones pass; openConnections follows the clients', async () => {
    for (const faultsPer of ['connection', 'exchange'] as const) {
      const healing = await proxy({ seed: 9, faultsPer, faultRate: 1, kinds: ['drop'] });
      const held = exchange(healing.port, Buffer.from('still there?'), 10_000);
      const deadline = Date.now() + 5_000;
      while (healing.counters.dropped < 1) {
        assert.ok(Date.now() < deadline, `${faultsPer}: the proxy black-holed the connection`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(healing.openConnections, 1);
      healing.heal();
      const reset = await held;
      assert.deepEqual({ ending: reset.ending, errorCode: reset.errorCode, bytes: reset.received.length }, { ending: 'error', errorCode: 'ECONNRESET', bytes: 0 }, faultsPer);
      const after = await exchange(healing.port, Buffer.from('hello again'));
      assert.deepEqual({ ending: after.ending, reply: after.received.toString() }, { ending: 'end', reply: 'hello again' }, faultsPer);
      while (healing.openConnections > 0) {
        assert.ok(Date.now() < deadline, `${faultsPer}: every client connection closed`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  });

  it('close() destroys every socket it holds, dropped and forwarded alike', async () => {
    const closing = new FaultProxy({ target: { host: '127.0.0.1', port: echoPort }, seed: 6, faultRate: 0.5, kinds: ['drop'] });
    await closing.start();
    const port = closing.port;
    const pending = Array.from({ length: 4 }, () => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      socket.write('open');
      socket.resume(); // read, so the proxy's FIN is seen and the socket closes
      return new Promise<void>((resolve) => socket.on('close', () => resolve()));
    });
    // Wait (with a deadline) until the proxy holds all four before closing it.
    const deadline = Date.now() + 5_000;
    while (closing.counters.connections < 4) {
      assert.ok(Date.now() < deadline, 'the proxy accepted four connections');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await closing.close();
    await Promise.all(pending);
    assert.equal(closing.counters.dropped + closing.counters.passed, 4);
    assert.ok(closing.counters.dropped > 0 && closing.counters.passed > 0, 'both dropped and forwarded connections were open');
  });
});
