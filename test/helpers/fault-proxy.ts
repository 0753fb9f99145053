/**
 * A fault-injecting TCP proxy for the cloud-fault tests: it listens on a free port and forwards each
 * connection to a target (fake-gcs-server, the Firestore emulator), but a seeded share of connections
 * (30 % by default) is faulty:
 * - `delay`: held for 200–1500 ms before it is forwarded (a slow network);
 * - `reset`: forwarded until a random number of bytes has passed, then reset (RST) mid-request or mid-reply;
 * - `drop`: accepted and never answered, until the client gives up (a black-holed connection).
 * Clients that keep connections alive (HTTP keep-alive, gRPC's one HTTP/2 connection) open few of them,
 * so faults can instead be drawn per exchange (`faultsPer: 'exchange'`): each time the client speaks after
 * the target has, as a new request does; a dropped exchange black-holes the connection from then on.
 * Faults come in shuffled decks of ten (three faulty in each at 30 %, the kinds taking turns), so even a
 * short test meets every kind, and the same seed gives the same sequence. Passing connections may also
 * have single chunks delayed (`chunkDelayRate`).
 * `counters` says what the proxy did; `heal()` ends the faults (the network recovers); `close()` destroys
 * every socket it holds.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

import { seededRandom } from './seeded-random';

export const FAULT_KINDS = ['delay', 'reset', 'drop'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type ConnectionPlan = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'reset'; afterBytes: number } | { kind: 'drop' };

export interface FaultProxyOptions {
  target: { host: string; port: number };
  seed: number;
  /**
   * What a fault is drawn for: each `connection` (the default), or each `exchange` on a connection (the
   * client speaking after the target has), which reaches clients that keep connections alive or multiplex.
   */
  faultsPer?: 'connection' | 'exchange';
  /** Share of connections (or exchanges) that get a fault, in tenths (0.3 → 3 of every 10). */
  faultRate?: number;
  /** Which faults to inject (all three by default), taking turns. */
  kinds?: readonly FaultKind[];
  delayMs?: readonly [number, number];
  /** A reset connection is reset once this many bytes (both directions together) have passed. */
  resetAfterBytes?: readonly [number, number];
  /** Chance that one chunk of a passing connection is held back (order is kept); per-connection faults only. */
  chunkDelayRate?: number;
  chunkDelayMs?: readonly [number, number];
}

export interface FaultCounters {
  connections: number;
  passed: number;
  delayed: number;
  /** Connections planned to be reset. */
  resetPlanned: number;
  /** Resets done (a planned one whose connection ended before its byte count is not one). */
  reset: number;
  dropped: number;
  chunksDelayed: number;
  bytesToTarget: number;
  bytesToClient: number;
}


const DECK_SIZE = 10;

export class FaultProxy {
  readonly counters: FaultCounters = { connections: 0, passed: 0, delayed: 0, resetPlanned: 0, reset: 0, dropped: 0, chunksDelayed: 0, bytesToTarget: 0, bytesToClient: 0 };
  /** Every connection's (or exchange's) plan, in order. */
  readonly plans: ConnectionPlan[] = [];
  private readonly random: () => number;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Client sides of connections still open, and those black-holed by a drop. */
  private readonly clients = new Set<Socket>();
  private readonly blackHoled = new Set<Socket>();
  private healed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private deck: Array<FaultKind | 'pass'> = [];
  private turn = 0;
  private closed = false;
  private boundPort = 0;

  constructor(private readonly options: FaultProxyOptions) {
    this.random = seededRandom(options.seed);
    // allowHalfOpen: a client's FIN is passed on as a FIN, so request/reply protocols that half-close still work.
    this.server = createServer({ allowHalfOpen: true }, (client) => this.accept(client));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.boundPort = (this.server.address() as { port: number }).port;
    return this;
  }

  get port(): number {
    return this.boundPort;
  }

  /** `127.0.0.1:<port>`, what FIRESTORE_EMULATOR_HOST takes. */
  get host(): string {
    return `127.0.0.1:${this.boundPort}`;
  }

  /** `http://127.0.0.1:<port>`, what an HTTP client's endpoint takes. */
  get url(): string {
    return `http://${this.host}`;
  }

  get faults(): number {
    return this.counters.delayed + this.counters.resetPlanned + this.counters.dropped;
  }

  /** Connections clients still hold open through the proxy. */
  get openConnections(): number {
    return this.clients.size;
  }

  /**
   * Ends the faults, as a recovering network does: later connections and exchanges pass, and black-holed
   * connections are reset, so calls still waiting on them fail and are retried on new connections.
   */
  heal(): void {
    this.healed = true;
    for (const client of this.blackHoled) client.resetAndDestroy();
    this.blackHoled.clear();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private between([low, high]: readonly [number, number]): number {
    return Math.floor(low + this.random() * (high - low + 1));
  }

  private nextPlan(): ConnectionPlan {
    if (this.healed) return { kind: 'pass' };
    if (this.deck.length === 0) {
      const kinds = this.options.kinds ?? FAULT_KINDS;
      const faulty = Math.round((this.options.faultRate ?? 0.3) * DECK_SIZE);
      this.deck = Array.from({ length: DECK_SIZE }, (_, index) => (index < faulty ? kinds[this.turn++ % kinds.length]! : 'pass'));
      for (let index = this.deck.length - 1; index > 0; index--) {
        const other = Math.floor(this.random() * (index + 1));
        [this.deck[index], this.deck[other]] = [this.deck[other]!, this.deck[index]!];
      }
    }
    const kind = this.deck.pop()!;
    if (kind === 'delay') return { kind, ms: this.between(this.options.delayMs ?? [200, 1500]) };
    if (kind === 'reset') return { kind, afterBytes: this.between(this.options.resetAfterBytes ?? [0, 16 * 1024]) };
    return { kind };
  }

  private track(socket: Socket): Socket {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    // Errors are expected here (resets, clients giving up); each is handled by tearing the pair down.
    socket.on('error', () => undefined);
    return socket;
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private count(plan: ConnectionPlan): void {
    this.plans.push(plan);
    if (plan.kind === 'pass') this.counters.passed += 1;
    if (plan.kind === 'delay') this.counters.delayed += 1;
    if (plan.kind === 'reset') this.counters.resetPlanned += 1;
    if (plan.kind === 'drop') this.counters.dropped += 1;
  }

  private blackHole(client: Socket): void {
    this.blackHoled.add(client);
    client.on('close', () => this.blackHoled.delete(client));
  }

  private accept(client: Socket): void {
    this.track(client);
    this.clients.add(client);
    client.on('close', () => this.clients.delete(client));
    if (this.closed) return void client.destroy();
    this.counters.connections += 1;
    const perConnection = (this.options.faultsPer ?? 'connection') === 'connection';
    const plan: ConnectionPlan = perConnection ? this.nextPlan() : { kind: 'pass' };
    if (perConnection) this.count(plan);
    if (plan.kind === 'drop') {
      client.resume(); // read and discard: the client sees its bytes go out and nothing ever come back
      this.blackHole(client);
      return;
    }
    client.pause();
    const open = async (): Promise<void> => {
      if (plan.kind === 'delay') await this.wait(plan.ms);
      if (this.closed || client.destroyed) return;
      const upstream = this.track(connect({ host: this.options.target.host, port: this.options.target.port, allowHalfOpen: true }));
      this.pair(client, upstream, plan, !perConnection);
    };
    void open();
  }

  /**
   * Forwards between the pair. With `perExchange`, each exchange (the client speaking after the target has,
   * or first) draws its own plan: a request on a kept-alive connection, an RPC on a multiplexed one.
   */
  private pair(client: Socket, upstream: Socket, plan: ConnectionPlan, perExchange: boolean): void {
    let budget = plan.kind === 'reset' ? plan.afterBytes : Infinity;
    let resetDone = false;
    let blackHoled = false;
    let lastSpeaker: 'client' | 'target' | undefined;
    const reset = (): void => {
      if (resetDone) return;
      resetDone = true;
      this.counters.reset += 1;
      client.resetAndDestroy();
      upstream.destroy();
    };
    const tearDown = (): void => {
      client.destroy();
      upstream.destroy();
    };
    const upstreamClosed = (): void => void (blackHoled || tearDown());
    client.on('close', tearDown);
    upstream.on('close', upstreamClosed);
    /** Applies an exchange's plan before its first chunk; false when the chunk must not be forwarded. */
    const startExchange = async (): Promise<boolean> => {
      const exchange = this.nextPlan();
      this.count(exchange);
      if (exchange.kind === 'drop') {
        // From now on nothing passes either way, and the connection stays open until the client gives up.
        blackHoled = true;
        this.blackHole(client);
        upstream.destroy();
        return false;
      }
      if (exchange.kind === 'delay') await this.wait(exchange.ms);
      if (exchange.kind === 'reset') budget = Math.min(budget, exchange.afterBytes);
      return true;
    };
    const forward = (from: Socket, to: Socket, counter: 'bytesToTarget' | 'bytesToClient', speaker: 'client' | 'target'): void => {
      // The chunk being delivered (perhaps delayed): an end the sender sends meanwhile must wait for it.
      let delivering: Promise<void> = Promise.resolve();
      from.on('data', (chunk: Buffer) => {
        from.pause();
        const deliver = async (): Promise<void> => {
          if (blackHoled) return;
          const newExchange = perExchange && speaker === 'client' && lastSpeaker !== 'client';
          lastSpeaker = speaker;
          if (newExchange && !(await startExchange())) return;
          if (!perExchange && plan.kind === 'pass' && this.random() < (this.options.chunkDelayRate ?? 0)) {
            this.counters.chunksDelayed += 1;
            await this.wait(this.between(this.options.chunkDelayMs ?? [200, 1500]));
          }
          if (to.destroyed || from.destroyed) return;
          let data = chunk;
          if (data.length >= budget) {
            // Pass what fits in the budget, then reset: the peer sees a request or reply cut off mid-way.
            data = data.subarray(0, budget);
            budget = 0;
            if (data.length > 0) to.write(data);
            this.counters[counter] += data.length;
            return reset();
          }
          budget -= data.length;
          this.counters[counter] += data.length;
          if (!to.write(data)) await new Promise((resolve) => (to.once('drain', resolve), to.once('close', resolve)));
        };
        delivering = deliver().then(() => {
          if (!from.destroyed) from.resume();
        });
      });
      from.on('end', () => {
        void delivering.then(() => {
          if (!to.destroyed && !blackHoled) to.end();
        });
      });
    };
    forward(client, upstream, 'bytesToTarget', 'client');
    forward(upstream, client, 'bytesToClient', 'target');
    upstream.on('connect', () => client.resume());
  }
}
