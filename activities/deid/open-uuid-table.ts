/** Opens the UUID table a config names, on the backend it names. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { BadInputError } from '../errors';
import { type BlobStore, isBlobReader } from '../storage/blob-store';
import { operationTimeoutFrom } from '../storage/deadline';
import { LocalUuidTable, localUuidTablePath } from './local-uuid-table';
import { checkTableName, type UuidTable, type UuidTableConfig } from './uuid-table';

export interface UuidTableDeps {
  /** The local backend keeps its file under `<dataHome>/.uuid-tables/`. */
  dataHome: string;
  /** Reads a `gs://` credentials file (the blob store's business); `file://` URLs are read directly. */
  readObject?: (uri: string) => Promise<Buffer>;
  env?: NodeJS.ProcessEnv;
}

export interface OpenedUuidTable {
  table: UuidTable;
  close(): Promise<void>;
}

async function readCredentials(url: string, deps: UuidTableDeps): Promise<{ client_email?: string; private_key?: string }> {
  let text: string;
  if (url.startsWith('file://')) text = await readFile(fileURLToPath(url), 'utf8');
  else if (deps.readObject) text = (await deps.readObject(url)).toString('utf8');
  else throw new BadInputError('UUID table credentials: no reader for gs:// URLs was provided');
  try {
    return JSON.parse(text) as { client_email?: string; private_key?: string };
  } catch {
    throw new BadInputError('UUID table credentials file is not JSON'); // never echo the content: it is a key
  }
}

export async function openUuidTable(config: UuidTableConfig, deps: UuidTableDeps): Promise<OpenedUuidTable> {
  checkTableName(config.table);
  if (config.backend === 'local') {
    const table = new LocalUuidTable({ file: localUuidTablePath(deps.dataHome, config.table), uuidPrefix: config.uuidPrefix });
    return { table, close: async () => table.close() };
  }
  if (!config.projectId) throw new BadInputError('the firestore UUID table needs projectId');
  const env = deps.env ?? process.env;
  const emulatorHost = env.FIRESTORE_EMULATOR_HOST;
  const credentials = !emulatorHost && config.credentialsFileUrl ? await readCredentials(config.credentialsFileUrl, deps) : undefined;
  // Loaded when used: the Firestore client takes most of a second to load, which every CLI command would pay.
  const { createFirestoreClient, FirestoreUuidTable } = await import('./firestore-uuid-table.js');
  const firestore = createFirestoreClient({ projectId: config.projectId, ...(credentials ? { credentials } : {}), ...(emulatorHost ? { emulatorHost } : {}) });
  const table = new FirestoreUuidTable({ firestore, table: config.table, uuidPrefix: config.uuidPrefix, operationTimeoutMs: operationTimeoutFrom(env) });
  return { table, close: () => table.close() };
}

/** Opens a table as a worker does: local tables under its data home, `gs://` credentials through its blob store. */
export function openUuidTableFor(config: UuidTableConfig, dataHome: string, blobStore: BlobStore): Promise<OpenedUuidTable> {
  return openUuidTable(config, { dataHome, ...(isBlobReader(blobStore) ? { readObject: (uri: string) => blobStore.getBytes(uri) } : {}) });
}
