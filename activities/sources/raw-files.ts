/**
 * JSON Lines files under raw/ that are appended page by page yet appear atomically: lines go to a
 * temporary name (the `.x.tmp-…` pattern backups skip), each page is flushed to disk before it counts,
 * and the finished file is linked to its final name, never replacing one. The temporary file's byte
 * length after each page is what a heartbeat records, so a retried attempt truncates any half-written
 * page and appends from there.
 */
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, type FileHandle, mkdir, open, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { AlreadyExistsError } from '../errors';
import { commitTemporaryFile, temporaryPathFor } from '../storage/atomic-write';
import { digestFile } from '../storage/hashing';

/** Where an unfinished file stands: enough to continue it in another attempt. */
export interface PartialFile {
  /** Final file name (in the run folder). */
  name: string;
  /** Temporary file name (in the run folder). */
  temp: string;
  bytes: number;
  records: number;
}

export interface FinishedFile {
  name: string;
  uri: string;
  bytes: number;
  sha256: string;
  md5: string;
  records: number;
}

export class JsonlAppender {
  private constructor(
    private readonly folder: string,
    private readonly handle: FileHandle,
    private state: PartialFile,
  ) {}

  /** Starts `name` in `folder`, or continues `resume` (dropping anything written after its last record). */
  static async open(folder: string, name: string, resume?: PartialFile): Promise<JsonlAppender> {
    await mkdir(folder, { recursive: true });
    if (resume) {
      const tempPath = join(folder, resume.temp);
      // The attempt that wrote this partial file finished it, and was stopped before a heartbeat said so:
      // the finished file's beginning is the partial file (it is only ever appended to).
      if (!existsSync(tempPath) && existsSync(join(folder, name))) await copyFile(join(folder, name), tempPath);
      const handle = await open(tempPath, 'r+');
      await handle.truncate(resume.bytes);
      return new JsonlAppender(folder, handle, { ...resume });
    }
    const temp = basename(temporaryPathFor(join(folder, name)));
    const handle = await open(join(folder, temp), 'wx');
    return new JsonlAppender(folder, handle, { name, temp, bytes: 0, records: 0 });
  }

  /** Appends records and flushes them to disk; only then do they count in `state`. */
  async append(records: readonly unknown[]): Promise<void> {
    if (records.length === 0) return;
    let text = '';
    for (const record of records) text += `${JSON.stringify(record)}\n`;
    const data = Buffer.from(text);
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written, this.state.bytes + written);
      written += bytesWritten;
    }
    await this.handle.datasync();
    this.state = { ...this.state, bytes: this.state.bytes + data.length, records: this.state.records + records.length };
  }

  get partial(): PartialFile {
    return { ...this.state };
  }

  /** Links the file to its final name (never replacing one) and returns its digests. */
  async finish(): Promise<FinishedFile> {
    await this.handle.close();
    const tempPath = join(this.folder, this.state.temp);
    const finalPath = join(this.folder, this.state.name);
    if (existsSync(finalPath)) {
      // An earlier attempt finished this file and was stopped before a heartbeat said so. The same pages
      // fetched again give the same bytes: that file stands. Other bytes are a real conflict.
      const [again, earlier] = await Promise.all([digestFile(tempPath), digestFile(finalPath)]);
      if (again.sha256 !== earlier.sha256) throw new AlreadyExistsError(pathToFileURL(finalPath).href);
      await rm(tempPath, { force: true });
      return { name: this.state.name, uri: pathToFileURL(finalPath).href, records: this.state.records, ...earlier };
    }
    await commitTemporaryFile(tempPath, finalPath, true);
    const digests = await digestFile(finalPath);
    return { name: this.state.name, uri: pathToFileURL(finalPath).href, records: this.state.records, ...digests };
  }

  async abandon(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** Digests of a finished file already in place (a resumed attempt lists it again). */
export async function describeFile(path: string, records: number): Promise<FinishedFile> {
  const digests = await digestFile(path);
  return { name: basename(path), uri: pathToFileURL(path).href, records, ...digests };
}

/** Counts lines without holding the file in memory. */
export async function countLines(path: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines += 1;
  }
  return lines;
}

export async function readJsonIfExists<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function removeFolder(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

