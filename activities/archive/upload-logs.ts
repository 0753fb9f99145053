/**
 * upload-logs: the run's log file and the backup archive (with its checksum) go to
 * `<destination><file basename>`, never overwriting an object, each verified by checksum after upload.
 * Safe to retry: an object that is already there with our content counts as uploaded.
 */
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

import { runLogPath } from '../runs/data-root';
import type { StageImplementation } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';
import { objectUri } from '../storage/blob-store';
import { type FileToUpload, uploadFileOnce } from '../storage/upload-once';
import type { uploadLogsStage } from './upload-logs.stage';

export const uploadLogsImplementation: StageImplementation<typeof uploadLogsStage> = {
  version: 1,
  async inputs({ request }) {
    const archive = request.upstream['backup-data-root']?.archive;
    return {
      destination: request.stage.destination,
      // Without an archive the run's own log is the only file, so every run uploads its log.
      archive: archive ? { sha256: archive.sha256, name: basename(fileURLToPath(archive.uri)) } : { runId: request.runId },
    };
  },
  async run({ request, dataRoot, blobStore, logger, reportProgress, signal }) {
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
      signal.throwIfAborted(); // between files: an object uploaded stays uploaded, a retry accepts it
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
