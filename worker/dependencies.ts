/** Builds the activities' dependencies from worker settings: the one place that picks real backends. */
import { Storage } from '@google-cloud/storage';
import type { Logger } from 'pino';

import type { ActivityDeps } from '../activities';
import { localDrivesFolder } from '../activities/drive/local-drive';
import { BlobStoreRouter } from '../activities/storage/blob-store';
import { GcsBlobStore } from '../activities/storage/gcs-blob-store';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import type { Settings } from '../config/settings';

/** The Cloud Storage store a worker uses (tests build it the same way, pointed at their endpoint). */
export function createGcsBlobStore(settings: Pick<Settings, 'gcsApiEndpoint' | 'gcsProjectId' | 'gcsRequestTimeoutMs'>): GcsBlobStore {
  const storage = new Storage({
    ...(settings.gcsApiEndpoint ? { apiEndpoint: settings.gcsApiEndpoint } : {}),
    ...(settings.gcsProjectId ? { projectId: settings.gcsProjectId } : {}),
    // Temporal retries the whole stage; the client's own retries stay short so an attempt fails fast.
    retryOptions: { maxRetries: 2 },
    // Without it the client sets no deadline at all (its documented 60 s default is overwritten by an
    // undefined), and a connection that never answers hangs the attempt until the stage's timeout.
    timeout: settings.gcsRequestTimeoutMs,
  });
  return new GcsBlobStore(storage, { requestTimeoutMs: settings.gcsRequestTimeoutMs });
}

export function createBlobStore(settings: Settings): BlobStoreRouter {
  const local = new LocalBlobStore(settings.localBucketsRoot);
  if (settings.blobStore === 'local') return new BlobStoreRouter({ file: local, gs: local });
  return new BlobStoreRouter({ file: local, gs: createGcsBlobStore(settings) });
}

export function createActivityDeps(settings: Settings, logger: Logger): ActivityDeps {
  return {
    dataHome: settings.dataHome,
    allowedDataRoots: settings.allowedDataRoots,
    blobStore: createBlobStore(settings),
    localStoreRoots: [settings.localBucketsRoot, localDrivesFolder(settings.dataHome)],
    logger,
    now: () => new Date(),
  };
}
