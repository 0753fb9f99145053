/**
 * upload-logs: the run's log file and the backup archive (with its checksum) go to
 * `<destination><file basename>`, never overwriting an object, each verified by checksum after upload.
 * Safe to retry: an object that is already there with our content counts as uploaded.
 */
import { copyFile, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StageConfigOf } from '../../config/pipeline-config';
import { AlreadyExistsError } from '../errors';
import { temporaryPathFor } from '../storage/atomic-write';
import { objectUri, type BlobStore, type StoredObject } from '../storage/blob-store';
import { digestFile } from '../storage/hashing';
import { runLogPath } from '../runs/data-root';
import type { StageDefinition } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';

export interface FileToUpload {
  localPath: string;
  /** A log grows while the run goes on; an earlier upload of its beginning counts as this file. */
  growing?: boolean;
  contentType: string;
}

export interface UploadedFile extends StoredObject {
  alreadyPresent: boolean;
}

/** Is the object at `existing` what we would upload from `localPath`? */
async function matchesLocal(existing: StoredObject, file: FileToUpload): Promise<boolean> {
  const local = await digestFile(file.localPath, file.growing ? existing.bytes : undefined);
  return local.bytes === existing.bytes && local.md5 === existing.md5;
}

/**
 * Uploads one file as `uri`. An existing object with the same content is accepted (a retry after a crash);
 * one with other content is an AlreadyExistsError, since nothing is ever overwritten.
 */
export async function uploadFileOnce(blobStore: BlobStore, file: FileToUpload, uri: string): Promise<UploadedFile> {
  const existing = await blobStore.stat(uri);
  if (existing) {
    if (await matchesLocal(existing, file)) return { ...existing, alreadyPresent: true };
    throw new AlreadyExistsError(uri);
  }
  // Upload a snapshot, so a log written to during the upload still matches its checksum.
  const snapshot = file.growing ? temporaryPathFor(file.localPath) : file.localPath;
  try {
    if (file.growing) await copyFile(file.localPath, snapshot);
    return { ...(await blobStore.putFile(snapshot, uri, { contentType: file.contentType })), alreadyPresent: false };
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
    // Another attempt won the race; accept its object if it is ours.
    const raced = await blobStore.stat(uri);
    if (raced && (await matchesLocal(raced, file))) return { ...raced, alreadyPresent: true };
    throw err;
  } finally {
    if (file.growing) await rm(snapshot, { force: true });
  }
}

export const uploadLogsStage: StageDefinition<StageConfigOf<'upload-logs'>> = {
  version: 1,
  async inputs({ request }) {
    const archive = request.upstream['backup-data-root']?.archive;
    return {
      destination: request.stage.destination,
      // Without an archive the run's own log is the only file, so every run uploads its log.
      archive: archive ? { sha256: archive.sha256, name: basename(fileURLToPath(archive.uri)) } : { runId: request.runId },
    };
  },
  async run({ request, dataRoot, blobStore, logger, reportProgress }) {
    const backup = request.upstream['backup-data-root'];
    const files: Array<[string, FileToUpload]> = [];
    if (backup?.archive) {
      files.push(['archive', { localPath: fileURLToPath(backup.archive.uri), contentType: 'application/gzip' }]);
    }
    if (backup?.checksum) {
      files.push(['checksum', { localPath: fileURLToPath(backup.checksum.uri), contentType: 'text/plain' }]);
    }
    // The log goes last so that it records the uploads before it.
    files.push(['log', { localPath: runLogPath(dataRoot, request.runId), growing: true, contentType: 'application/x-ndjson' }]);

    const outputs: StageOutputs = {};
    for (const [key, file] of files) {
      const uri = objectUri(request.stage.destination, basename(file.localPath));
      const uploaded = await uploadFileOnce(blobStore, file, uri);
      logger.info(
        { event: 'UploadingLogFiles', file: key, uri, bytes: uploaded.bytes, alreadyPresent: uploaded.alreadyPresent },
        uploaded.alreadyPresent ? 'already uploaded' : 'uploaded',
      );
      reportProgress({ uploaded: key });
      // The log object is a snapshot: its checksum is what was uploaded, not the growing local file's.
      outputs[key] = { uri: uploaded.uri, bytes: uploaded.bytes, md5: uploaded.md5 };
    }
    return outputs;
  },
};
