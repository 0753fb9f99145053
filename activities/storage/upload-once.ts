/**
 * Uploads a local file as an object exactly once: never overwriting, and accepting an object that is
 * already there with the same content (a retry after a crash, or another attempt that won the race).
 */
import { copyFile, rm } from 'node:fs/promises';

import { AlreadyExistsError } from '../errors';
import { temporaryPathFor } from './atomic-write';
import type { BlobStore, StoredObject } from './blob-store';
import { digestFile } from './hashing';

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
