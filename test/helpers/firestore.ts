/** Firestore emulator helpers for the tests (the emulator itself is started by `npm test`). */
import { Firestore } from '@google-cloud/firestore';

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

/**
 * A client the emulator treats as an ordinary signed-in user (not the admin it lets through everything), on a
 * fresh project whose security rules deny every read and write: every call fails with PERMISSION_DENIED.
 */
export async function deniedFirestore(prefix: string): Promise<{ firestore: Firestore; projectId: string }> {
  const projectId = uniqueName(prefix);
  const rules = "rules_version = '2';\nservice cloud.firestore {\n  match /databases/{database}/documents {\n    match /{document=**} {\n      allow read, write: if false;\n    }\n  }\n}\n";
  const response = await fetch(`http://${testServers.firestoreEmulatorHost}/emulator/v1/projects/${projectId}:securityRules`, { method: 'PUT', body: JSON.stringify({ rules: { files: [{ content: rules }] } }) });
  if (response.status !== 200) throw new Error(`the emulator refused the security rules: HTTP ${response.status}`);
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  const userToken = `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub: 'a-coder', user_id: 'a-coder', iat: 0, exp: 4_000_000_000, aud: projectId, iss: `https://securetoken.google.com/${projectId}` })}.`;
  // Naming the universe stops a metadata-server probe.
  const firestore = new Firestore(Object.assign({ projectId, host: testServers.firestoreEmulatorHost, ssl: false, customHeaders: { Authorization: `Bearer ${userToken}` } }, { universeDomain: 'googleapis.com' }));
  return { firestore, projectId };
}
