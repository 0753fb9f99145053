/**
 * What the local servers that stand in for services without an emulator (Rapid Pro, the Graph API)
 * share: a node:http server on a free loopback port, stopped with its connections, and injectable faults.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export abstract class LoopbackHttpServer<Fault extends object> {
  baseUrl = '';
  /** Faults still to serve; each subclass decides which requests a fault matches and counts it down. */
  protected faults: Fault[] = [];
  private server: Server | undefined;

  protected abstract handle(req: IncomingMessage, res: ServerResponse): void;

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      try {
        this.handle(req, res);
      } catch (err) {
        res.writeHead(500, { 'Content-Type': 'text/html' }).end(`<h1>Server Error (500)</h1><!-- ${(err as Error).message} -->`);
      }
    });
    // Keep-alive sockets would hold close() open; the clients do not need them.
    server.keepAliveTimeout = 1;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  injectFault(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  clearFaults(): void {
    this.faults = [];
  }
}
