/**
 * Object storage behind one interface: Cloud Storage (`gs://`) or a local folder standing in for buckets
 * (`file://`, and `gs://` too when the worker runs without cloud credentials).
 */
import { BadInputError } from '../errors';

export interface StoredObject {
  /** The URI the caller asked for. */
  uri: string;
  /** Where the bytes physically are: the same gs:// URI, or a file:// URI for the local store. */
  location: string;
  bytes: number;
  /** Base64 MD5, as Cloud Storage reports it. */
  md5: string;
}

export interface BlobStore {
  /**
   * Uploads a local file as `uri`, never replacing an existing object (AlreadyExistsError), and checks
   * the stored checksum against the local file's before returning.
   */
  putFile(localPath: string, uri: string, options?: { contentType?: string }): Promise<StoredObject>;
  /** The object's size and checksum, or undefined when there is none. */
  stat(uri: string): Promise<StoredObject | undefined>;
}

/** Reading objects back; kept apart from BlobStore so test doubles of the write side stay small. */
export interface BlobReader {
  /**
   * Downloads `uri` to `localPath` (through a temporary name), checking its MD5; missing → BadInputError.
   * An abort of `signal` stops the copy and removes the temporary file.
   */
  getFile(uri: string, localPath: string, options?: { signal?: AbortSignal }): Promise<StoredObject>;
  /** A small object's bytes (a token, a key file); missing → BadInputError. */
  getBytes(uri: string): Promise<Buffer>;
}

export function isBlobReader(store: BlobStore): store is BlobStore & BlobReader {
  return typeof (store as Partial<BlobReader>).getFile === 'function' && typeof (store as Partial<BlobReader>).getBytes === 'function';
}

export interface GsLocation {
  bucket: string;
  name: string;
}

export function parseGsUri(uri: string): GsLocation {
  const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!match) throw new BadInputError(`not an object URI of the form gs://bucket/name: ${uri}`);
  return { bucket: match[1]!, name: match[2]! };
}

/** Joins a folder URI (`gs://b/dir/`, `file:///d/`) and a file name. */
export function objectUri(prefixUri: string, basename: string): string {
  return prefixUri.endsWith('/') ? `${prefixUri}${basename}` : `${prefixUri}/${basename}`;
}

/** Sends each URI to the store for its scheme. */
export class BlobStoreRouter implements BlobStore, BlobReader {
  constructor(private readonly stores: { file: BlobStore & BlobReader; gs: BlobStore & BlobReader }) {}

  private storeFor(uri: string): BlobStore & BlobReader {
    if (uri.startsWith('file://')) return this.stores.file;
    if (uri.startsWith('gs://')) return this.stores.gs;
    throw new BadInputError(`unsupported storage URI (expected gs:// or file://): ${uri}`);
  }

  putFile(localPath: string, uri: string, options?: { contentType?: string }): Promise<StoredObject> {
    return this.storeFor(uri).putFile(localPath, uri, options);
  }

  stat(uri: string): Promise<StoredObject | undefined> {
    return this.storeFor(uri).stat(uri);
  }

  getFile(uri: string, localPath: string, options?: { signal?: AbortSignal }): Promise<StoredObject> {
    return this.storeFor(uri).getFile(uri, localPath, options);
  }

  getBytes(uri: string): Promise<Buffer> {
    return this.storeFor(uri).getBytes(uri);
  }
}
