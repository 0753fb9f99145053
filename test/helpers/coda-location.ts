/**
 * Where a test Coda store is, and opening it: enough for another process (a race or crash worker) to open
 * the same store. Imports nothing from node:test, so worker processes can load it.
 */
import { CodaStore, type CodaStoreOptions } from '../../activities/coding/coda-store';
import { FirestoreDocumentStore } from '../../activities/coding/firestore-document-store';
import { LocalDocumentStore } from '../../activities/coding/local-document-store';
import { createFirestoreClient } from '../../activities/deid/firestore-uuid-table';

export type StoreLocation = { backend: 'local'; file: string } | { backend: 'firestore'; emulatorHost: string; projectId: string };

export function openStoreAt(location: StoreLocation, options: CodaStoreOptions = {}): CodaStore {
  const documents =
    location.backend === 'local'
      ? new LocalDocumentStore({ file: location.file, name: 'test' })
      : new FirestoreDocumentStore(createFirestoreClient({ projectId: location.projectId, emulatorHost: location.emulatorHost }), `Coda store (Firestore emulator project "${location.projectId}")`);
  return new CodaStore(documents, options);
}
