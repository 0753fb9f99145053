/** Builds the activities' dependencies from worker settings: the one place that picks real backends. */
import { Storage } from '@google-cloud/storage';
import type { Logger } from 'pino';

import type { ActivityDeps } from '../activities';
import { localDrivesFolder } from '../activities/drive/local-drive';
import { BlobStoreRouter } from '../activities/storage/blob-store';
import { GcsBlobStore } from '../activities/storage/gcs-blob-store';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import type { Settings } from '../config/settings';

export function createBlobStore(settings: Settings): BlobStoreRouter {
  const local = new LocalBlobStore(settings.localBucketsRoot);
  if (settings.blobStore === 'local') return new BlobStoreRouter({ file: local, gs: local });
  const storage = new Storage({
    ...(settings.gcsApiEndpoint ? { apiEndpoint: settings.gcsApiEndpoint } : {}),
    ...(settings.gcsProjectId ? { projectId: settings.gcsProjectId } : {}),
    // Temporal retries the whole stage; the client's own retries stay short so an attempt fails fast.
    retryOptions: { maxRetries: 2 },
  });
  return new BlobStoreRouter({ file: local, gs: new GcsBlobStore(storage) });
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
