/**
 * The embedded default: a Temporal dev server with a persistent SQLite file in the data home, so runs
 * survive restarts and stay visible in the Web UI. Reused when one already answers on the port.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import type { Logger } from 'pino';

import { type CodecServerSettings, readCodecServerSettings, type RunningCodecServer, startCodecServer } from '../../client/codec-server';
import type { PayloadKeyring } from '../../config/payload-encryption';
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

/** `uiCodecEndpoint`: the codec server the Web UI decodes payloads with, when the server is started here. */
export async function ensureEmbeddedServer(dataHome: string, options: { uiCodecEndpoint?: string } = {}): Promise<EmbeddedServer> {
  const address = `127.0.0.1:${EMBEDDED_PORTS.grpc}`;
  const uiUrl = `http://127.0.0.1:${EMBEDDED_PORTS.ui}`;
  const folder = join(dataHome, '.temporal');
  const dbFile = join(folder, 'dev-server.sqlite');
  if (await servesSearchAttributes(address)) return { address, uiUrl, dbFile };
  mkdirSync(folder, { recursive: true });
  const server = await startTemporalDevServer({ dbFile, logFile: join(folder, 'dev-server.log'), port: EMBEDDED_PORTS.grpc, uiPort: EMBEDDED_PORTS.ui, ...options });
  return { address, uiUrl, dbFile, startedHere: server.process };
}

/** Where the embedded Web UI finds the codec server (PIPELINE_CODEC_HOST / PIPELINE_CODEC_PORT). */
export function embeddedCodecSettings(env: NodeJS.ProcessEnv = process.env): CodecServerSettings & { url: string } {
  const settings = readCodecServerSettings(env, EMBEDDED_PORTS.ui);
  return { ...settings, url: `http://${settings.host}:${settings.port}` };
}

/**
 * The codec server beside the embedded Web UI, in this process, so the UI shows the runs' payloads
 * decrypted. Undefined when its port is taken (another `npm run server` or demo serves it already).
 */
export async function startEmbeddedCodecServer(keyring: PayloadKeyring, logger: Logger): Promise<RunningCodecServer | undefined> {
  try {
    return await startCodecServer({ ...embeddedCodecSettings(), keyring, logger });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return undefined;
    throw err;
  }
}
