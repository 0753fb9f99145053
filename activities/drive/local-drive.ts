/**
 * The embedded default: a local folder standing in for Drive, `<data home>/.drive/<name>/`, with the
 * folder paths of the config below it. A file of the same name is replaced in place (atomically, by
 * rename), never duplicated, and left alone when it already holds the same bytes.
 */
import { createReadStream } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

import { BadInputError } from '../errors';
import { streamToFileAtomic } from '../storage/atomic-write';
import { digestFile } from '../storage/hashing';
import type { DriveStore, FileToUpload, UploadedFile } from './drive-store';

/** The folder holding every local Drive: under the data home, beside the local buckets and UUID tables. */
export function localDrivesFolder(dataHome: string): string {
  return join(dataHome, '.drive');
}

/** The folder standing in for the Drive named `name`. */
export function localDriveRoot(dataHome: string, name: string): string {
  return join(localDrivesFolder(dataHome), name);
}

export class LocalDriveStore implements DriveStore {
  readonly label: string;

  constructor(private readonly root: string) {
    this.label = `the local Drive folder ${root}`;
  }

  async upload(file: FileToUpload, onProgress: (bytesSent: number) => void): Promise<UploadedFile> {
    const target = join(this.root, ...file.folder, file.name);
    const fileId = relative(this.root, target);
    const uri = pathToFileURL(target).href;
    const existing = await digestFile(target).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      if (err.code === 'EISDIR') throw new BadInputError(`${this.label}: ${fileId} is a folder; a file cannot replace it`);
      throw err;
    });
    if (existing?.sha256 === file.digests.sha256) return { fileId, uri, action: 'unchanged', duplicatesTrashed: 0 };
    const copied = await streamToFileAtomic(createReadStream(file.localPath), target, { onProgress });
    if (copied.sha256 !== file.digests.sha256) throw new Error(`${file.localPath} changed while it was copied to ${target}`);
    return { fileId, uri, action: existing ? 'replaced' : 'created', duplicatesTrashed: 0 };
  }
}
