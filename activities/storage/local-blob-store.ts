/** The local-filesystem blob store: `file://` URIs, and `gs://bucket/name` kept as `<buckets root>/bucket/name`. */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { BadInputError } from '../errors';
import { streamToFileAtomic } from './atomic-write';
import { type BlobReader, type BlobStore, parseGsUri, type StoredObject } from './blob-store';
import { digestFile } from './hashing';

export class LocalBlobStore implements BlobStore, BlobReader {
  constructor(private readonly bucketsRoot: string) {}

  /** The local path that holds the object named by `uri`. */
  pathOf(uri: string): string {
    if (uri.startsWith('file://')) return fileURLToPath(uri);
    const { bucket, name } = parseGsUri(uri);
    if (name.split('/').includes('..')) throw new BadInputError(`object name must not contain "..": ${uri}`);
    return join(this.bucketsRoot, bucket, name);
  }

  async putFile(localPath: string, uri: string): Promise<StoredObject> {
    const destination = this.pathOf(uri);
    const source = await digestFile(localPath);
    await streamToFileAtomic(createReadStream(localPath), destination, { noOverwrite: true });
    const stored = await this.stat(uri);
    if (!stored || stored.md5 !== source.md5) {
      throw new Error(`checksum mismatch after copying ${localPath} to ${destination}`);
    }
    return stored;
  }

  async stat(uri: string): Promise<StoredObject | undefined> {
    const path = this.pathOf(uri);
    try {
      if (!(await stat(path)).isFile()) return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const digests = await digestFile(path);
    return { uri, location: pathToFileURL(path).href, bytes: digests.bytes, md5: digests.md5 };
  }

  async getFile(uri: string, localPath: string, options: { signal?: AbortSignal } = {}): Promise<StoredObject> {
    const stored = await this.stat(uri);
    if (!stored) throw new BadInputError(`no object ${uri}`);
    const copied = await streamToFileAtomic(createReadStream(this.pathOf(uri)), localPath, options.signal ? { signal: options.signal } : {});
    if (copied.md5 !== stored.md5) throw new Error(`checksum mismatch after copying ${uri}`);
    return stored;
  }

  async getBytes(uri: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(uri));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BadInputError(`no object ${uri}`);
      throw err;
    }
  }
}
