/**
 * `npm run server`: the embedded dev server with its Web UI, on the persistent database, until Ctrl-C;
 * beside it the codec server the Web UI decrypts payloads with (the data home's local key, or
 * PIPELINE_ENCRYPTION_KEYS).
 */
import { createPipelineLogger } from '../activities/runs/run-log';
import { keyringFor } from '../config/data-converter';
import { readSettings } from '../config/settings';
import { embeddedCodecSettings, ensureEmbeddedServer, startEmbeddedCodecServer } from './lib/embedded-server';

async function main(): Promise<void> {
  const settings = readSettings();
  const codec = embeddedCodecSettings();
  const server = await ensureEmbeddedServer(settings.dataHome, { uiCodecEndpoint: codec.url });
  if (!server.startedHere) {
    console.log(`a dev server already answers on ${server.address}; Web UI ${server.uiUrl}`);
    return;
  }
  const codecServer = await startEmbeddedCodecServer(keyringFor(settings), createPipelineLogger('warn').child({ component: 'codec-server' }));
  console.log(
    `Temporal dev server ${server.address}, Web UI ${server.uiUrl}, database ${server.dbFile}; ` +
      `codec server ${codecServer ? codecServer.url : `${codec.url} (port taken: already served?)`}; Ctrl-C stops them`,
  );
  const code = await server.startedHere.exited;
  await codecServer?.close();
  process.exitCode = code ?? 0;
}

void main();
