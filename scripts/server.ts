/** `npm run server`: the embedded dev server with its Web UI, on the persistent database, until Ctrl-C. */
import { readSettings } from '../config/settings';
import { ensureEmbeddedServer } from './lib/embedded-server';

async function main(): Promise<void> {
  const server = await ensureEmbeddedServer(readSettings().dataHome);
  if (!server.startedHere) {
    console.log(`a dev server already answers on ${server.address}; Web UI ${server.uiUrl}`);
    return;
  }
  console.log(`Temporal dev server ${server.address}, Web UI ${server.uiUrl}, database ${server.dbFile}; Ctrl-C stops it`);
  const code = await server.startedHere.exited;
  process.exitCode = code ?? 0;
}

void main();
