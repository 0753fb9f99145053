/**
 * The embedded default: a Temporal dev server with a persistent SQLite file in the data home, so runs
 * survive restarts and stay visible in the Web UI. Reused when one already answers on the port.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import type { ManagedProcess } from './processes';
import { servesSearchAttributes, startTemporalDevServer } from './servers';

export const EMBEDDED_PORTS = {
  grpc: Number(process.env.EMBEDDED_TEMPORAL_PORT ?? 7233),
  ui: Number(process.env.EMBEDDED_TEMPORAL_UI_PORT ?? 8233),
};

export interface EmbeddedServer {
  address: string;
  uiUrl: string;
  dbFile: string;
  /** Set when this process started the server (and so must stop it). */
  startedHere?: ManagedProcess;
}

export async function ensureEmbeddedServer(dataHome: string): Promise<EmbeddedServer> {
  const address = `127.0.0.1:${EMBEDDED_PORTS.grpc}`;
  const uiUrl = `http://127.0.0.1:${EMBEDDED_PORTS.ui}`;
  const folder = join(dataHome, '.temporal');
  const dbFile = join(folder, 'dev-server.sqlite');
  if (await servesSearchAttributes(address)) return { address, uiUrl, dbFile };
  mkdirSync(folder, { recursive: true });
  const server = await startTemporalDevServer({ dbFile, logFile: join(folder, 'dev-server.log'), port: EMBEDDED_PORTS.grpc, uiPort: EMBEDDED_PORTS.ui });
  return { address, uiUrl, dbFile, startedHere: server.process };
}
