/**
 * drive-upload: generate-outputs' messages.csv and individuals.csv, and every file of analysis-graphs,
 * to the Drive paths the config names (only those it names), replacing files of the same name. A retried
 * attempt redoes nothing that is done: each file is looked up by name, and one already holding the same
 * bytes is left as it is.
 */
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

import { BadInputError } from '../errors';
import type { StageContext, StageImplementation } from '../runs/stage-runner';
import type { OutputRef, StageOutputs } from '../runs/types';
import { digestFile } from '../storage/hashing';
import { readServiceAccountKey, serviceAccountClient } from './drive-auth';
import { DEFAULT_DRIVE_RETRY, type DriveRetryPolicy } from './drive-requests';
import { type DriveStore, mimeTypeOf, type UploadAction } from './drive-store';
import type { DriveUploadConfig, driveUploadStage } from './drive-upload.stage';
import { DEFAULT_DRIVE_ROOT_URL, GoogleDriveStore } from './google-drive';
import { localDriveRoot,LocalDriveStore } from './local-drive';

/** An uploaded file: where it is (Drive link or file:// URL), its Drive id, and what the upload did. */
export interface DriveUploadRef extends OutputRef {
  fileId: string;
  action: UploadAction;
  sha256: string;
  md5: string;
  bytes: number;
}

interface PlannedUpload {
  /** The config option that asked for it, for errors. */
  option: string;
  localPath: string;
  folder: string[];
  name: string;
}

const OUTPUT_FILES = [
  ['messagesUploadPath', 'messages.csv'],
  ['individualsUploadPath', 'individuals.csv'],
] as const;

function localFileOf(option: string, uri: string): string {
  if (!uri.startsWith('file://')) throw new BadInputError(`${option}: ${uri} is not a local file`);
  return fileURLToPath(uri);
}

/** What the config asks to upload, from the outputs of the stages before this one. */
function plannedUploads(context: StageContext<DriveUploadConfig>): PlannedUpload[] {
  const { stage, upstream } = context.request;
  const uploads: PlannedUpload[] = [];
  for (const [option, key] of OUTPUT_FILES) {
    const path = stage[option];
    if (!path) continue;
    const ref = upstream['generate-outputs']?.[key];
    if (!ref) throw new BadInputError(`${option}: no ${key} from a generate-outputs stage earlier in this run`);
    const segments = path.split('/');
    uploads.push({ option, localPath: localFileOf(option, ref.uri), folder: segments.slice(0, -1), name: segments.at(-1)! });
  }
  if (stage.automatedAnalysisDir) {
    const graphs = upstream['analysis-graphs'];
    if (!graphs || Object.keys(graphs).length === 0) throw new BadInputError('automatedAnalysisDir: no analysis-graphs stage with outputs earlier in this run');
    const folder = stage.automatedAnalysisDir.split('/');
    for (const key of Object.keys(graphs).sort()) {
      const localPath = localFileOf('automatedAnalysisDir', graphs[key]!.uri);
      uploads.push({ option: 'automatedAnalysisDir', localPath, folder, name: basename(localPath) });
    }
  }
  const seen = new Map<string, string>();
  for (const upload of uploads) {
    const path = drivePathOf(upload);
    const earlier = seen.get(path);
    if (earlier) throw new BadInputError(`${upload.option}: ${path} is also where ${earlier} uploads; one would replace the other`);
    seen.set(path, upload.option);
  }
  return uploads;
}

const drivePathOf = (upload: { folder: readonly string[]; name: string }) => [...upload.folder, upload.name].join('/');

async function digestsOf(upload: PlannedUpload) {
  try {
    return await digestFile(upload.localPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BadInputError(`${upload.option}: ${upload.localPath} is gone from the data root`);
    throw err;
  }
}

async function openStore(context: StageContext<DriveUploadConfig>, retry: DriveRetryPolicy): Promise<DriveStore> {
  const { destination } = context.request.stage;
  if (destination.backend === 'local') {
    if (!context.dataHome) throw new Error('drive-upload: the local backend needs the worker data home in the stage context');
    return new LocalDriveStore(localDriveRoot(context.dataHome, destination.folder ?? context.request.pipelineName));
  }
  const key = await readServiceAccountKey(destination.credentialsFileUrl, context.blobStore);
  return new GoogleDriveStore({
    auth: serviceAccountClient(key),
    rootUrl: destination.rootUrl ?? DEFAULT_DRIVE_ROOT_URL,
    resumableAboveBytes: destination.resumableAboveBytes,
    chunkBytes: destination.chunkBytes,
    retry,
    logger: context.logger,
    signal: context.signal,
    account: `${key.client_email} (key ${destination.credentialsFileUrl})`,
  });
}

/** The stage with its Drive retry policy; tests shorten the waits. */
export function createDriveUploadImplementation(options: { retry?: Partial<DriveRetryPolicy> } = {}): StageImplementation<typeof driveUploadStage> {
  const retry = { ...DEFAULT_DRIVE_RETRY, ...options.retry };
  return {
    version: 1,
    /** Where files go and what they hold: the same files to the same places are not uploaded again. */
    async inputs(context) {
      const { stage, pipelineName } = context.request;
      const destination = stage.destination.backend === 'local' ? { backend: 'local', folder: stage.destination.folder ?? pipelineName } : stage.destination;
      const files = await Promise.all(plannedUploads(context).map(async (upload) => ({ path: drivePathOf(upload), sha256: (await digestsOf(upload)).sha256 })));
      return { destination, files };
    },
    async run(context) {
      const uploads = plannedUploads(context);
      const store = await openStore(context, retry);
      const outputs: StageOutputs = {};
      let done = 0;
      for (const upload of uploads) {
        context.signal.throwIfAborted();
        const path = drivePathOf(upload);
        const digests = await digestsOf(upload);
        const uploaded = await store.upload({ ...upload, mimeType: mimeTypeOf(upload.name), digests }, (bytesSent) => context.reportProgress({ file: done + 1, of: uploads.length, bytesSent }));
        done += 1;
        context.reportProgress({ file: done, of: uploads.length, bytesSent: digests.bytes });
        context.logger.info({ event: 'UploadingToDrive', store: store.label, path, action: uploaded.action, bytes: digests.bytes }, `${path} ${uploaded.action}`);
        const ref: DriveUploadRef = { uri: uploaded.uri, fileId: uploaded.fileId, action: uploaded.action, bytes: digests.bytes, sha256: digests.sha256, md5: digests.md5 };
        outputs[path] = ref;
      }
      return outputs;
    },
  };
}

export const driveUploadImplementation = createDriveUploadImplementation();
