/** Cloud Storage through @google-cloud/storage; the tests point it at fake-gcs-server. */
import type { Storage } from '@google-cloud/storage';

import { AlreadyExistsError, BadInputError } from '../errors';
import { streamToFileAtomic } from './atomic-write';
import { type BlobReader, type BlobStore, parseGsUri, type StoredObject } from './blob-store';
import { digestFile } from './hashing';

/** Above this size uploads are resumable, so a dropped connection does not restart a large archive. */
const RESUMABLE_UPLOAD_BYTES = 8 * 1024 * 1024;

function httpStatusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

export interface GcsBlobStoreOptions {
  /**
   * Deadline of a simple (multipart) upload, which the client otherwise sends with none: a dropped
   * connection would hang the attempt. Resumable uploads resume after their own errors.
   */
  requestTimeoutMs?: number;
}

export class GcsBlobStore implements BlobStore, BlobReader {
  constructor(
    private readonly storage: Storage,
    private readonly options: GcsBlobStoreOptions = {},
  ) {}

  async putFile(localPath: string, uri: string, options: { contentType?: string } = {}): Promise<StoredObject> {
    const { bucket, name } = parseGsUri(uri);
    const local = await digestFile(localPath);
    const file = this.storage.bucket(bucket).file(name);
    try {
      await this.storage.bucket(bucket).upload(localPath, {
        destination: name,
        // Generation 0 means "only if no live object has this name": never overwrite.
        preconditionOpts: { ifGenerationMatch: 0 },
        validation: 'md5',
        resumable: local.bytes > RESUMABLE_UPLOAD_BYTES,
        ...(this.options.requestTimeoutMs ? { timeout: this.options.requestTimeoutMs } : {}),
        metadata: { contentType: options.contentType ?? 'application/octet-stream' },
      });
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 412) throw new AlreadyExistsError(uri);
      if (status === 404) throw new BadInputError(`bucket "${bucket}" does not exist (uploading ${uri})`);
      if (status === 403 || status === 401) throw new BadInputError(`no permission to write ${uri}: ${(err as Error).message}`);
      throw err;
    }
    const stored = await this.stat(uri);
    if (!stored || stored.md5 !== local.md5 || stored.bytes !== local.bytes) {
      // Remove the bad copy (only that generation) so a retry can upload again.
      const [metadata] = await file.getMetadata();
      await file.delete({ ifGenerationMatch: metadata.generation });
      throw new Error(`checksum mismatch after uploading ${localPath} to ${uri}`);
    }
    return stored;
  }

  async stat(uri: string): Promise<StoredObject | undefined> {
    const { bucket, name } = parseGsUri(uri);
    try {
      const [metadata] = await this.storage.bucket(bucket).file(name).getMetadata();
      return { uri, location: uri, bytes: Number(metadata.size ?? 0), md5: String(metadata.md5Hash ?? '') };
    } catch (err) {
      if (httpStatusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async getFile(uri: string, localPath: string, options: { signal?: AbortSignal } = {}): Promise<StoredObject> {
    const stored = await this.stat(uri);
    if (!stored) throw new BadInputError(`no object ${uri}`);
    const { bucket, name } = parseGsUri(uri);
    // validation: false because we compare the whole file's MD5 with the stat below ourselves.
    const source = this.storage.bucket(bucket).file(name).createReadStream({ validation: false });
    const copied = await streamToFileAtomic(source, localPath, options.signal ? { signal: options.signal } : {});
    if (copied.md5 !== stored.md5) throw new Error(`checksum mismatch after downloading ${uri}`);
    return stored;
  }

  async getBytes(uri: string): Promise<Buffer> {
    const { bucket, name } = parseGsUri(uri);
    try {
      const [data] = await this.storage.bucket(bucket).file(name).download();
      return data;
    } catch (err) {
      if (httpStatusOf(err) === 404) throw new BadInputError(`no object ${uri}`);
      if (httpStatusOf(err) === 403 || httpStatusOf(err) === 401) throw new BadInputError(`no permission to read ${uri}`);
      throw err;
    }
  }
}
