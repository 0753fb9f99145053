/** Opens the Coda store a coding plan names (`coding.store`), on the backend it names. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { BadInputError } from '../errors';
import { type BlobStore, isBlobReader } from '../storage/blob-store';
import { operationTimeoutFrom } from '../storage/deadline';
import { CodaStore, type CodaStoreOptions } from './coda-store';
import type { CodingStoreConfig } from './coding-plan';
import { localCodaStorePath,LocalDocumentStore } from './local-document-store';

export interface CodaStoreDeps {
  /** The local backend keeps its file under `<dataHome>/.coda-stores/`. */
  dataHome: string;
  /** Reads a `gs://` credentials file (the blob store's business); `file://` URLs are read directly. */
  readObject?: (uri: string) => Promise<Buffer>;
  env?: NodeJS.ProcessEnv;
  /** Segment and batch sizes (tests). */
  options?: CodaStoreOptions;
}

export interface OpenedCodaStore {
  store: CodaStore;
  close(): Promise<void>;
}

export function describeCodaStore(config: CodingStoreConfig): string {
  return config.backend === 'local' ? `local Coda store "${config.name}"` : `Coda store (Firestore project "${config.projectId ?? '?'}")`;
}

async function readCredentials(url: string, deps: CodaStoreDeps, store: string): Promise<{ client_email?: string; private_key?: string }> {
  let text: string;
  try {
    if (url.startsWith('file://')) text = await readFile(fileURLToPath(url), 'utf8');
    else if (deps.readObject) text = (await deps.readObject(url)).toString('utf8');
    else throw new BadInputError('no reader for gs:// URLs was provided');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new BadInputError(`${store}: cannot read coding.store.credentialsFileUrl ${url}: ${reason}`);
  }
  try {
    return JSON.parse(text) as { client_email?: string; private_key?: string };
  } catch {
    throw new BadInputError(`${store}: coding.store.credentialsFileUrl is not JSON`); // never echo the content: it is a key
  }
}

export async function openCodaStore(config: CodingStoreConfig, deps: CodaStoreDeps): Promise<OpenedCodaStore> {
  const description = describeCodaStore(config);
  if (config.backend === 'local') {
    const documents = new LocalDocumentStore({ file: localCodaStorePath(deps.dataHome, config.name), name: config.name });
    return { store: new CodaStore(documents, deps.options), close: () => documents.close() };
  }
  if (!config.projectId) throw new BadInputError(`${description}: coding.store.projectId is required for the firestore backend`);
  const env = deps.env ?? process.env;
  const emulatorHost = env.FIRESTORE_EMULATOR_HOST;
  const credentials = !emulatorHost && config.credentialsFileUrl ? await readCredentials(config.credentialsFileUrl, deps, description) : undefined;
  // Loaded when used: the Firestore client takes most of a second to load, which every CLI command would pay.
  const [{ createFirestoreClient }, { FirestoreDocumentStore }] = await Promise.all([import('../deid/firestore-uuid-table.js'), import('./firestore-document-store.js')]);
  const firestore = createFirestoreClient({ projectId: config.projectId, ...(credentials ? { credentials } : {}), ...(emulatorHost ? { emulatorHost } : {}) });
  const documents = new FirestoreDocumentStore(firestore, description, operationTimeoutFrom(env));
  return { store: new CodaStore(documents, deps.options), close: () => documents.close() };
}

/** Opens a store as a worker does: local stores under its data home, `gs://` credentials through its blob store. */
export function openCodaStoreFor(config: CodingStoreConfig, dataHome: string, blobStore: BlobStore): Promise<OpenedCodaStore> {
  return openCodaStore(config, { dataHome, ...(isBlobReader(blobStore) ? { readObject: (uri: string) => blobStore.getBytes(uri) } : {}) });
}
