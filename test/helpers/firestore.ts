/** Firestore emulator helpers for the tests (the emulator itself is started by `npm test`). */
import type { Firestore } from '@google-cloud/firestore';

import { createFirestoreClient } from '../../activities/deid/firestore-uuid-table';
import { clearFirestoreEmulator } from '../../scripts/lib/servers';
import { testServers } from './environment';

/** A Firestore client on the test emulator. */
export function emulatorFirestore(projectId: string): Firestore {
  return createFirestoreClient({ projectId, emulatorHost: testServers.firestoreEmulatorHost });
}

/** Deletes every document of `projectId` in the test emulator. */
export function clearEmulatorProject(projectId: string): Promise<void> {
  return clearFirestoreEmulator(testServers.firestoreEmulatorHost, projectId);
}

/** A name no other test (or earlier run against the same emulator) has used: tests never share a table. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
