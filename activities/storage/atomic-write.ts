/**
 * Writes that never leave a half-written file under the final name: data goes to a temporary name in the
 * same folder, is flushed, then renamed (or linked, when the final name must not be replaced).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { AlreadyExistsError } from '../errors';

/** Temporary files are named `.<name>.tmp-<random>`; backups and fingerprints skip them. */
export const TEMP_FILE_PATTERN = /^\..+\.tmp-[0-9a-f]{12}$/;

export function temporaryPathFor(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.tmp-${randomBytes(6).toString('hex')}`);
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
export async function commitTemporaryFile(tempPath: string, finalPath: string, noOverwrite: boolean): Promise<void> {
  await fsyncFile(tempPath);
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

type StreamOptions = { noOverwrite?: boolean; onProgress?: (bytes: number) => void; signal?: AbortSignal };

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
    await commitTemporaryFile(temp, path, options.noOverwrite ?? false);
  } finally {
    await rm(temp, { force: true });
  }
  return bytes;
}
