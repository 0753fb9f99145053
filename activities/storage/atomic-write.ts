/**
 * Writes that never leave a half-written file under the final name: data goes to a temporary name in the
 * same folder, is flushed, then renamed (or linked, when the final name must not be replaced).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 as zlibCrc32 } from 'node:zlib';

import { AlreadyExistsError } from '../errors';

/**
 * Temporary files are named `.<name>.tmp-<12 hex>`; backups and fingerprints skip them. Inside an activity
 * the first 8 hex digits are its temporary tag (see `withTemporaryTag`), the rest random; elsewhere all 12
 * are random.
 */
export const TEMP_FILE_PATTERN = /^\..+\.tmp-[0-9a-f]{12}$/;

/** Hex digits of a temporary tag: 32 bits, so two activities sharing one is a one-in-four-billion chance. */
const TEMPORARY_TAG_LENGTH = 8;

const temporaryTag = new AsyncLocalStorage<string>();

/**
 * The tag of one activity, the same for all its attempts: a retried attempt finds the temporary files its
 * crashed predecessors left by it (activities/storage/temp-sweep.ts) and removes them.
 */
export function temporaryTagOf(workflowId: string, activityId: string): string {
  return createHash('sha256').update(`${workflowId}\0${activityId}`).digest('hex').slice(0, TEMPORARY_TAG_LENGTH);
}

/** Runs `body` with temporary names carrying `tag` (set once, by the activity wrapper). */
export function withTemporaryTag<T>(tag: string, body: () => Promise<T>): Promise<T> {
  if (!/^[0-9a-f]{8}$/.test(tag)) throw new Error(`a temporary tag is ${TEMPORARY_TAG_LENGTH} hex digits, not ${JSON.stringify(tag)}`);
  return temporaryTag.run(tag, body);
}

/** The tag of a temporary file's name, or undefined for a name that is not a temporary file's. */
export function temporaryTagOfName(name: string): string | undefined {
  return TEMP_FILE_PATTERN.test(name) ? name.slice(-12, -12 + TEMPORARY_TAG_LENGTH) : undefined;
}

export function temporaryPathFor(finalPath: string): string {
  const tag = temporaryTag.getStore();
  const suffix = tag ? `${tag}${randomBytes((12 - TEMPORARY_TAG_LENGTH) / 2).toString('hex')}` : randomBytes(6).toString('hex');
  return join(dirname(finalPath), `.${basename(finalPath)}.tmp-${suffix}`);
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Moves a finished temporary file to its final name. With `noOverwrite`, an existing final file is an
 * AlreadyExistsError (link(2) fails atomically if the name is taken, unlike rename(2)).
 */
export async function commitTemporaryFile(tempPath: string, finalPath: string, noOverwrite: boolean, flush = true): Promise<void> {
  if (flush) await fsyncFile(tempPath);
  if (!noOverwrite) {
    await rename(tempPath, finalPath);
    return;
  }
  try {
    await link(tempPath, finalPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new AlreadyExistsError(`file://${finalPath}`);
    throw err;
  } finally {
    await rm(tempPath, { force: true });
  }
}

export async function writeFileAtomic(path: string, data: string | Buffer, options: { noOverwrite?: boolean } = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = temporaryPathFor(path);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
    await commitTemporaryFile(temp, path, options.noOverwrite ?? false);
  } finally {
    await rm(temp, { force: true });
  }
}

export interface StreamedFile {
  bytes: number;
  sha256: string; // hex
  md5: string; // base64
}

type StreamOptions = {
  noOverwrite?: boolean;
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  /**
   * False for an intermediate file whose reader checks it against a digest recorded when it was written
   * (a synthetic table's parts): not flushed to the disk before its rename, so a file read and removed
   * moments later may never be written to the disk at all.
   */
  flush?: boolean;
};

/**
 * Streams `source` to `path` through a temporary file, hashing on the way, in constant memory.
 * `onProgress` is called with the bytes written so far (used for activity heartbeats).
 */
export async function streamToFileAtomic(source: Readable, path: string, options: StreamOptions = {}): Promise<StreamedFile> {
  const sha256 = createHash('sha256');
  const md5 = createHash('md5');
  const bytes = await streamThroughTemporary(source, path, options, (chunk) => {
    sha256.update(chunk);
    md5.update(chunk);
  });
  return { bytes, sha256: sha256.digest('hex'), md5: md5.digest('base64') };
}

/**
 * The same with SHA-256 and CRC32 instead of MD5, for files nobody uploads as they are or whose upload
 * computes its own MD5 (synthetic tables and their parts): MD5 costs about three times SHA-256's CPU per
 * byte here, and CRC32 a third of SHA-256's, cheap enough for a reader to check a file it is copying.
 */
export async function streamToFileAtomicSha256(source: Readable, path: string, options: StreamOptions = {}): Promise<Omit<StreamedFile, 'md5'> & { crc32: number }> {
  const sha256 = createHash('sha256');
  let crc32 = 0;
  const bytes = await streamThroughTemporary(source, path, options, (chunk) => {
    sha256.update(chunk);
    crc32 = zlibCrc32(chunk, crc32);
  });
  return { bytes, sha256: sha256.digest('hex'), crc32 };
}

/**
 * The same without the digests, for files whose digests nobody reads (a series period's): hashing costs
 * about as much CPU per byte as generating synthetic rows does.
 */
export async function streamToFileAtomicUnhashed(source: Readable, path: string, options: StreamOptions = {}): Promise<{ bytes: number }> {
  return { bytes: await streamThroughTemporary(source, path, options, () => undefined) };
}

async function streamThroughTemporary(source: Readable, path: string, options: StreamOptions, onChunk: (chunk: Buffer) => void): Promise<number> {
  await mkdir(dirname(path), { recursive: true });
  const temp = temporaryPathFor(path);
  let bytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onChunk(chunk);
      bytes += chunk.length;
      options.onProgress?.(bytes);
      done(null, chunk);
    },
  });
  try {
    // An abort (the activity cancelled, the worker shutting down) stops the copy; the temporary file goes.
    await pipeline(source, meter, createWriteStream(temp, { flags: 'wx' }), ...(options.signal ? [{ signal: options.signal }] : []));
    await commitTemporaryFile(temp, path, options.noOverwrite ?? false, options.flush ?? true);
  } finally {
    await rm(temp, { force: true });
  }
  return bytes;
}
