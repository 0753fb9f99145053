/**
 * backup-data-root: a gzipped tar of the data root, `backups/data-<run id>.tar.gz` (run id = UTC time and
 * git short hash, the seed 004 convention), with a sha256sum-style `.sha256` beside it. Streams end to end,
 * so memory stays flat whatever the size of the data.
 */
import { readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';

import { create as createTar } from 'tar';

import { backupArchivePath } from '../runs/data-root';
import type { StageConfigFor } from '../runs/stage-definition';
import type { StageContext, StageImplementation } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';
import { streamToFileAtomic, writeFileAtomic } from '../storage/atomic-write';
import { checkFreeSpace } from '../storage/free-space';
import type { backupDataRootStage } from './backup-data-root.stage';
import { fingerprintDataRoot, isJunkFile, listDataFiles, NOT_BACKED_UP } from './data-root-files';

export interface BackupArchive {
  path: string;
  checksumPath: string;
  bytes: number;
  sha256: string;
  md5: string;
  files: number;
}

/** Writes the archive of `dataRoot` to `archivePath` (through a temporary name) and its checksum file. */
export async function createDataRootBackup(
  dataRoot: string,
  archivePath: string,
  onProgress: (bytesWritten: number) => void = () => undefined,
  signal?: AbortSignal,
): Promise<BackupArchive> {
  const topLevel = (await readdir(dataRoot)).filter((name) => !NOT_BACKED_UP.has(name) && !isJunkFile(name)).sort();
  let files = 0;
  const tarStream = createTar(
    {
      gzip: true,
      cwd: dataRoot,
      portable: true, // no user names, uids or device numbers: the archive is about data
      filter: (path, entry) => {
        if (isJunkFile(basename(path))) return false;
        if ('isFile' in entry && entry.isFile()) files += 1;
        return true;
      },
    },
    topLevel,
  );
  // node-tar's Pack is a minipass stream; Readable.from adapts it to Node streams.
  // Cancelled (activity cancelled, worker shutting down): the write stops and its temporary file is removed.
  const written = await streamToFileAtomic(Readable.from(tarStream), archivePath, { onProgress, ...(signal ? { signal } : {}) });
  const checksumPath = `${archivePath}.sha256`;
  await writeFileAtomic(checksumPath, `${written.sha256}  ${basename(archivePath)}\n`);
  return { path: archivePath, checksumPath, files, ...written };
}

/**
 * The free-disk check before the archive is written: refused as bad input (figure and space free named) when
 * the disk could not hold the archive's largest size, the files' bytes and a tar header each.
 */
export async function checkBackupSpace(dataRoot: string, archivePath: string): Promise<void> {
  const files = await listDataFiles(dataRoot, NOT_BACKED_UP);
  await checkFreeSpace(dirname(archivePath), files.reduce((sum, file) => sum + file.bytes + 1024, 0), `the backup archive of ${files.length} file(s) of the data root`);
}

export const backupDataRootImplementation: StageImplementation<typeof backupDataRootStage> = {
  version: 1,
  async inputs({ dataRoot }) {
    return { dataRoot: await fingerprintDataRoot(dataRoot) };
  },
  async run({ dataRoot, request, logger, reportProgress, signal }: StageContext<StageConfigFor<typeof backupDataRootStage>>) {
    const archivePath = backupArchivePath(dataRoot, request.runId);
    await checkBackupSpace(dataRoot, archivePath);
    const archive = await createDataRootBackup(dataRoot, archivePath, (bytes) => reportProgress({ bytesWritten: bytes }), signal);
    logger.info({ event: 'BackingUpData', archive: archive.path, bytes: archive.bytes, files: archive.files }, 'data root backed up');
    const outputs: StageOutputs = {
      archive: { uri: pathToFileURL(archive.path).href, bytes: archive.bytes, sha256: archive.sha256, md5: archive.md5 },
      checksum: { uri: pathToFileURL(archive.checksumPath).href },
    };
    return outputs;
  },
};
