/** What `npm test` provides to every test file: the servers it started. A missing server fails loudly. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

import { Storage } from '@google-cloud/storage';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\`, which starts the servers they need`);
  return value;
}

export const testServers = {
  get temporalAddress(): string {
    return required('TEST_TEMPORAL_ADDRESS');
  },
  /** The dev server's Web UI, e.g. http://127.0.0.1:PORT. */
  get temporalUiUrl(): string {
    return required('TEST_TEMPORAL_UI_URL');
  },
  /** Debian's Chromium, installed by `npm test` if missing. */
  get chromium(): string {
    return required('TEST_CHROMIUM');
  },
  /** The codec server the dev server's Web UI decrypts payloads with (the test run's keys). */
  get codecServerUrl(): string {
    return required('TEST_CODEC_SERVER_URL');
  },
  get gcsEndpoint(): string {
    return required('TEST_GCS_ENDPOINT');
  },
  /** `host:port` of the Firestore emulator. */
  get firestoreEmulatorHost(): string {
    return required('TEST_FIRESTORE_EMULATOR_HOST');
  },
};

export function fakeGcsStorage(): Storage {
  return new Storage({ apiEndpoint: testServers.gcsEndpoint, projectId: 'test-project', retryOptions: { maxRetries: 0 } });
}

/** A bucket with a unique name on fake-gcs-server. */
export async function createTestBucket(storage: Storage, prefix: string): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  await storage.createBucket(name);
  return name;
}

const temporaryFolders: string[] = [];
// Registered once at the top level, so folders made inside hooks live until the whole file is done.
after(() => Promise.all(temporaryFolders.map((folder) => rm(folder, { recursive: true, force: true }))));

/** A temporary folder removed when the test file ends. */
export async function temporaryFolder(label: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), `${label}-`));
  temporaryFolders.push(folder);
  return folder;
}
