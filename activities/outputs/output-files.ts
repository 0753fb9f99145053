/**
 * Output files written as a stream and appearing atomically (a temporary name, then a rename), with
 * their digests and record counts for the stage's OutputRefs: CSV through csv-stringify, and text (JSON
 * Lines, a JSON array) in 64 KiB writes.
 */
import { once } from 'node:events';
import { PassThrough, type Transform } from 'node:stream';
import { pathToFileURL } from 'node:url';

import { stringify } from 'csv-stringify';

import type { OutputRef } from '../runs/types';
import { streamToFileAtomic } from '../storage/atomic-write';

const FLUSH_BYTES = 1 << 16;

class StreamedOutput<Chunk> {
  private records = 0;
  private readonly done: Promise<{ bytes: number; sha256: string }>;

  constructor(
    readonly path: string,
    private readonly stream: Transform,
  ) {
    this.done = streamToFileAtomic(stream, path);
    this.done.catch(() => undefined); // awaited in finish() or abandon()
  }

  protected count(records: number): void {
    this.records += records;
  }

  protected async write(chunk: Chunk): Promise<void> {
    if (!this.stream.write(chunk)) await Promise.race([once(this.stream, 'drain'), this.done]);
  }

  protected async flush(): Promise<void> {}

  async finish(extra: Partial<OutputRef> = {}): Promise<OutputRef> {
    await this.flush();
    this.stream.end();
    const { bytes, sha256 } = await this.done;
    return { uri: pathToFileURL(this.path).href, bytes, sha256, records: this.records, ...extra };
  }

  /** Stops writing and removes the temporary file. */
  async abandon(): Promise<void> {
    this.stream.destroy(new Error('abandoned'));
    await this.done.catch(() => undefined);
  }
}

export class CsvOutput extends StreamedOutput<string[]> {
  constructor(path: string, header: readonly string[]) {
    const stringifier = stringify();
    super(path, stringifier);
    stringifier.write([...header]);
  }

  /** One data row (the header is not counted). */
  row(cells: string[]): Promise<void> {
    this.count(1);
    return this.write(cells);
  }
}

export class TextOutput extends StreamedOutput<string> {
  private buffer = '';

  constructor(path: string) {
    super(path, new PassThrough());
  }

  /** Appends text holding `records` records. */
  async text(text: string, records = 0): Promise<void> {
    this.buffer += text;
    this.count(records);
    if (this.buffer.length >= FLUSH_BYTES) await this.flush();
  }

  /** One JSON Lines record. */
  line(value: unknown): Promise<void> {
    return this.text(`${JSON.stringify(value)}\n`, 1);
  }

  protected override async flush(): Promise<void> {
    if (!this.buffer) return;
    const chunk = this.buffer;
    this.buffer = '';
    await this.write(chunk);
  }
}
