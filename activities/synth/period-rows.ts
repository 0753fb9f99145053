/**
 * A series period's dataset written as bytes, in its shuffled order; what it holds in memory is the
 * returning entities' kept cells and 4 bytes per row and per earlier entity. Returning rows take their
 * kept cells (ids, static columns) as the bytes of the reference segments, which hold them already
 * escaped: no cell is parsed into a string and escaped again, which was most of a period's time
 * (bench:series).
 *
 * Lines are written block by block in the dataset's order; each block computes the new and the returning
 * rows it holds (rows in any order, see ColumnGenerator.compute). The kept cells are stored in buckets by
 * the dataset block that writes them, so a block copies from one small bucket instead of missing the
 * cache on every row of a table-sized buffer (that alone was a fifth of a period).
 */
import { open } from 'node:fs/promises';

import { type Delimiter, DELIMITERS, type OutputFormat } from '../storage/csv-cells';
import { type ByteSource, byteSource, ByteWriter } from './byte-writer';
import type { ColumnGenerator } from './column-generator';
import { BLOCK_ROWS as GENERATOR_BLOCK_ROWS, createTableGenerators } from './generate';
import type { SynthSpec } from './spec';

const QUOTE = 34;
const LF = 10;
const CR = 13;
const DIGIT_0 = 48;
const CHUNK_BYTES = 1 << 20;
// A local binding: tsx compiles imported bindings to getter calls, too slow for hot loops.
const BLOCK_ROWS = GENERATOR_BLOCK_ROWS;

/**
 * Room for a separator and the few bytes some generators write unchecked (a minus sign) before a cell:
 * they ensure room only for their own cells, so the bytes between cells are checked here.
 */
const CELL_SLACK = 32;

function separator(out: ByteWriter, byte: number): void {
  if (out.position + CELL_SLACK > out.buffer.length) out.ensure(CELL_SLACK);
  out.buffer[out.position++] = byte;
}

/**
 * The returning entities' kept cells (escaped CSV bytes), by their line in the dataset. A bucket per
 * block of lines holds records in the order they were read: the line, the cells' bytes length, `width`
 * pairs of 32-bit offsets (start, end of each cell), and the bytes. A block finds its lines' records by
 * one pass over its bucket (an index by line, written as records arrive, missed the cache on most).
 */
export class KeptCells {
  private readonly buckets: Array<ByteWriter | undefined> = [];
  private readonly seen: Uint8Array;
  /** Records expected in a bucket, and the bytes of those stored so far: a new bucket is made big enough. */
  private readonly perBucket: number;
  private bytes = 0;
  found = 0;
  // The block being written: its bucket, and where each of its lines' record starts (-1: none).
  private block = -1;
  private bucket: ByteWriter | undefined;
  private readonly recordAt = new Int32Array(BLOCK_ROWS);

  constructor(
    lines: number,
    /** How many lines return (the number of records to find). */
    readonly wanted: number,
    readonly width: number,
  ) {
    this.seen = new Uint8Array(lines);
    this.perBucket = Math.ceil((BLOCK_ROWS * wanted) / Math.max(1, lines));
  }

  private newBucket(): ByteWriter {
    const recordBytes = this.found > 0 ? this.bytes / this.found : 8 * this.width + 72;
    return new ByteWriter(Math.max(1 << 12, Math.ceil(this.perBucket * recordBytes * 1.2)));
  }

  /** Stores line j's cells: spans [spans[2k], spans[2k+1]) of `source` (k < fields), in order in one run. */
  store(line: number, source: ByteSource, spans: Float64Array, fields: number): void {
    if (this.seen[line] === 0) {
      this.seen[line] = 1;
      this.found += 1;
    }
    const block = Math.floor(line / BLOCK_ROWS);
    let bucket = this.buckets[block];
    if (!bucket) this.buckets[block] = bucket = this.newBucket();
    const width = this.width;
    const header = 8 + 8 * width;
    bucket.ensure(header);
    const at = bucket.position;
    const first = fields > 0 ? spans[0]! : 0;
    const last = fields > 0 ? spans[2 * fields - 1]! : 0;
    const view = bucket.view;
    view.setUint32(at, line);
    view.setUint32(at + 4, last - first);
    for (let k = 0; k < width; k++) {
      // Missing fields are empty cells, as the string-based reader made them.
      view.setUint32(at + 8 + 8 * k, k < fields ? spans[2 * k]! - first : 0);
      view.setUint32(at + 12 + 8 * k, k < fields ? spans[2 * k + 1]! - first : 0);
    }
    bucket.position = at + header;
    if (fields > 0) bucket.copy(source, first, last);
    this.bytes += bucket.position - at;
  }

  /** Makes block b (lines b·BLOCK_ROWS …) the one cells are copied from, and frees the previous one's bucket. */
  useBlock(block: number): void {
    if (this.block >= 0) this.buckets[this.block] = undefined;
    this.block = block;
    const recordAt = this.recordAt.fill(-1);
    const bucket = this.buckets[block];
    this.bucket = bucket;
    if (!bucket) return;
    const view = bucket.view;
    const header = 8 + 8 * this.width;
    const first = block * BLOCK_ROWS;
    // A later record of the same line replaces an earlier one, as the string-based reader's map did.
    for (let at = 0; at < bucket.position; at += header + view.getUint32(at + 4)) recordAt[view.getUint32(at) - first] = at;
  }

  /** Writes cell k of the current block's line `index`. */
  copyCell(out: ByteWriter, index: number, k: number): void {
    const bucket = this.bucket;
    const at = this.recordAt[index]!;
    if (!bucket || at < 0) throw new Error(`no kept cells for line ${this.block * BLOCK_ROWS + index}`);
    const view = bucket.view;
    const data = at + 8 + 8 * this.width;
    out.copy(bucket, data + view.getUint32(at + 8 + 8 * k), data + view.getUint32(at + 12 + 8 * k));
  }
}

/**
 * Reads reference segments (header `entity,<kept…>`, then one line per entity) and keeps the cells of
 * the entities that return (lineOf[entity] ≥ 0: their line in the dataset). Quote-free lines are split
 * at memchr speed; the others are read field by field, as csv-reader reads them. One buffer for all the
 * segments of a period (a fresh one per file was 40 MB of garbage a period): a record cut by the
 * buffer's end moves to its front.
 */
export class SegmentReader {
  private buffer: Buffer;

  constructor(
    private readonly delimiter: Delimiter,
    private readonly lineOf: Int32Array,
    private readonly kept: KeptCells,
    /** The buffer's first size (tests make records cross its end). */
    bufferBytes = CHUNK_BYTES,
  ) {
    this.buffer = Buffer.allocUnsafe(bufferBytes);
  }

  /** Reads one segment; an abort of `signal` stops it between chunks. */
  async read(path: string, signal?: AbortSignal): Promise<void> {
    const scanner = new SegmentScanner(this.delimiter.charCodeAt(0), this.lineOf, this.kept);
    const file = await open(path, 'r');
    try {
      let filled = 0;
      for (;;) {
        signal?.throwIfAborted();
        if (filled === this.buffer.length) {
          // One record longer than the buffer: make room for it.
          const grown = Buffer.allocUnsafe(this.buffer.length * 2);
          this.buffer.copy(grown, 0, 0, filled);
          this.buffer = grown;
        }
        const buffer = this.buffer;
        const { bytesRead } = await file.read(buffer, filled, buffer.length - filled, null);
        filled += bytesRead;
        const final = bytesRead === 0;
        const consumed = scanner.scan(buffer.subarray(0, filled), final);
        if (final) break;
        buffer.copyWithin(0, consumed, filled);
        filled -= consumed;
      }
    } finally {
      await file.close();
    }
  }
}

class SegmentScanner {
  private header = true;
  private readonly spans: Float64Array;

  constructor(
    private readonly delimiter: number,
    private readonly lineOf: Int32Array,
    private readonly kept: KeptCells,
  ) {
    this.spans = new Float64Array(2 * kept.width);
  }

  /** Reads the complete records of `buffer`; returns how many bytes they take (the rest waits for more). */
  scan(buffer: Buffer, final: boolean): number {
    const length = buffer.length;
    const { delimiter, lineOf } = this;
    const source = byteSource(buffer);
    let position = 0;
    let nextQuote = -1;
    let nextCarriageReturn = -1;
    while (position < length) {
      let slot = -1;
      let fieldStart = position;
      if (!this.header) {
        let entity = 0;
        let p = position;
        while (p < length && buffer[p]! >= DIGIT_0 && buffer[p]! <= DIGIT_0 + 9) entity = entity * 10 + buffer[p++]! - DIGIT_0;
        if (p < length && p > position && buffer[p] === delimiter && entity < lineOf.length) slot = lineOf[entity]!;
        if (slot >= 0) fieldStart = p + 1;
        // A line without quotes (a cell that may hold a newline) or carriage returns ends at the next \n.
        if (nextQuote < position) {
          nextQuote = buffer.indexOf(QUOTE, position);
          if (nextQuote < 0) nextQuote = length;
        }
        if (nextCarriageReturn < position) {
          nextCarriageReturn = buffer.indexOf(CR, position);
          if (nextCarriageReturn < 0) nextCarriageReturn = length;
        }
        const lineEnd = buffer.indexOf(LF, position);
        if (lineEnd >= 0 && lineEnd < nextQuote && lineEnd < nextCarriageReturn) {
          if (slot >= 0) this.line(source, fieldStart, lineEnd, slot);
          position = lineEnd + 1;
          continue;
        }
      }
      const end = this.record(source, fieldStart, final, slot);
      if (end < 0) break; // the record continues in the next chunk
      this.header = false;
      position = end;
    }
    return position;
  }

  /** Splits a line without quotes or carriage returns at the delimiter, and stores its fields. */
  private line(source: ByteSource, start: number, end: number, slot: number): void {
    const buffer = source.buffer;
    const { delimiter, spans } = this;
    const width = this.kept.width;
    let fields = 0;
    let fieldStart = start;
    while (fields < width) {
      let fieldEnd = buffer.indexOf(delimiter, fieldStart);
      if (fieldEnd < 0 || fieldEnd > end) fieldEnd = end;
      spans[2 * fields] = fieldStart;
      spans[2 * fields + 1] = fieldEnd;
      fields += 1;
      if (fieldEnd === end) break;
      fieldStart = fieldEnd + 1;
    }
    this.kept.store(slot, source, spans, fields);
  }

  /**
   * Scans one record's fields from `start`, storing them for line `slot` (≥ 0), as csv-reader reads them:
   * RFC 4180 quotes, \n, \r\n or \r line ends. Returns the position after it, or -1 if it is incomplete.
   */
  private record(source: ByteSource, start: number, final: boolean, slot: number): number {
    const buffer = source.buffer;
    const length = buffer.length;
    const { delimiter, spans } = this;
    const width = this.kept.width;
    let fields = 0;
    let i = start;
    for (;;) {
      const fieldStart = i;
      if (i < length && buffer[i] === QUOTE) {
        i += 1;
        for (;;) {
          const next = buffer.indexOf(QUOTE, i);
          if (next < 0 || (next + 1 >= length && !final)) return -1;
          if (buffer[next + 1] === QUOTE) {
            i = next + 2;
            continue;
          }
          i = next + 1;
          break;
        }
      }
      while (i < length) {
        const byte = buffer[i]!;
        if (byte === delimiter || byte === LF || byte === CR) break;
        i += 1;
      }
      if (i >= length && !final) return -1;
      if (fields < width) {
        spans[2 * fields] = fieldStart;
        spans[2 * fields + 1] = i;
        fields += 1;
      }
      if (i >= length) break;
      const byte = buffer[i]!;
      if (byte === delimiter) {
        i += 1;
        continue;
      }
      if (byte === CR) {
        if (i + 1 >= length && !final) return -1;
        i += buffer[i + 1] === LF ? 2 : 1;
      } else i += 1;
      break;
    }
    if (slot >= 0) this.kept.store(slot, source, spans, fields);
    return i;
  }
}

/** Where a returning row's cell comes from: its generator, nowhere (left empty), or kept cell k ≥ 0. */
export const GENERATED = -1;
export const EMPTY = -2;

export interface PeriodRows {
  /** The new entities' rows: rows first … first+count-1 of the spec's table. */
  newRows: { spec: SynthSpec; first: number; count: number };
  /**
   * The returning entities' rows: rows 0 … count-1 of the spec's table (none without a spec), cell c
   * as sources[c] says; kept cells are those of the row's line in `kept`.
   */
  returningRows: { spec?: SynthSpec; count: number; sources: Int32Array; kept: KeptCells };
  /** Line j of the dataset is row lineRows[j] of the new rows then the returning rows (the period's shuffle). */
  lineRows: Int32Array;
}

type Generators = ReturnType<typeof createTableGenerators> & { byName: Map<string, ColumnGenerator> };

function generatorsFor(spec: SynthSpec, tableName: string, format: OutputFormat): Generators {
  const generators = createTableGenerators(spec, tableName, format);
  return { ...generators, byName: new Map(generators.columns.map((column) => [column.name, column])) };
}

/**
 * Writes a period's lines block by block. Small methods on purpose: one large generator function took
 * V8 longer to compile than a period takes to write, and was deoptimised on every new path.
 */
class PeriodLineWriter {
  readonly out = new ByteWriter(CHUNK_BYTES + (1 << 16));
  private readonly fresh: Generators;
  private readonly returning?: Generators;
  /** Returning rows compute only what they write or another column reads, not kept or emptied cells. */
  private readonly returningOrder: ColumnGenerator[];
  private readonly width: number;
  private readonly separator: number;
  // Per block: the table rows of its new and returning lines, and which line is which.
  private readonly freshRows = new Float64Array(BLOCK_ROWS);
  private readonly returningRows = new Float64Array(BLOCK_ROWS);
  private readonly isNew = new Uint8Array(BLOCK_ROWS);

  constructor(
    tableName: string,
    format: OutputFormat,
    private readonly period: PeriodRows,
  ) {
    this.fresh = generatorsFor(period.newRows.spec, tableName, format);
    const { spec, sources } = period.returningRows;
    const returning = spec ? generatorsFor(spec, tableName, format) : undefined;
    if (returning) this.returning = returning;
    this.returningOrder = returning ? returning.order.filter((column) => column.raw !== undefined || sources[returning.columns.indexOf(column)] === GENERATED) : [];
    this.width = this.fresh.columns.length;
    this.separator = DELIMITERS[format].charCodeAt(0);
  }

  /** Lines blockStart … blockStart+count-1 (blockStart a multiple of BLOCK_ROWS, count ≤ BLOCK_ROWS). */
  block(blockStart: number, count: number): void {
    const newCount = this.period.newRows.count;
    const first = this.period.newRows.first;
    const { lineRows } = this.period;
    const { freshRows, returningRows, isNew } = this;
    let freshCount = 0;
    let returningCount = 0;
    for (let j = 0; j < count; j++) {
      const row = lineRows[blockStart + j]!;
      isNew[j] = row < newCount ? 1 : 0;
      if (row < newCount) freshRows[freshCount++] = first + row;
      else returningRows[returningCount++] = row - newCount;
    }
    if (freshCount > 0) for (const column of this.fresh.order) column.compute(0, freshCount, this.fresh.byName, freshRows);
    if (returningCount > 0) for (const column of this.returningOrder) column.compute(0, returningCount, this.returning!.byName, returningRows);
    if (returningCount > 0) this.period.returningRows.kept.useBlock(blockStart / BLOCK_ROWS);
    let freshIndex = 0;
    let returningIndex = 0;
    for (let j = 0; j < count; j++) {
      if (isNew[j]) this.newLine(freshIndex++);
      else this.returningLine(returningIndex++, j);
    }
  }

  /** The block's new row `index`. */
  private newLine(index: number): void {
    const { out, width, separator: sep } = this;
    const columns = this.fresh.columns;
    if (out.position + CELL_SLACK > out.buffer.length) out.ensure(CELL_SLACK);
    const lineStart = out.position;
    columns[0]!.write(index, out);
    for (let c = 1; c < width; c++) {
      separator(out, sep);
      columns[c]!.write(index, out);
    }
    this.endLine(lineStart);
  }

  /** The block's returning row `index`, its line `line` (0 … BLOCK_ROWS-1). */
  private returningLine(index: number, line: number): void {
    const { out, width, separator: sep } = this;
    const columns = this.returning!.columns;
    const { sources, kept } = this.period.returningRows;
    if (out.position + CELL_SLACK > out.buffer.length) out.ensure(CELL_SLACK);
    const lineStart = out.position;
    for (let c = 0; c < width; c++) {
      if (c > 0) separator(out, sep);
      const source = sources[c]!;
      if (source === GENERATED) columns[c]!.write(index, out);
      else if (source >= 0) kept.copyCell(out, line, source);
    }
    this.endLine(lineStart);
  }

  private endLine(lineStart: number): void {
    const out = this.out;
    // A one-column row with nothing in it would be a blank line, which readers skip: write "".
    if (this.width === 1 && out.position === lineStart) {
      separator(out, QUOTE);
      separator(out, QUOTE);
    }
    separator(out, LF);
  }
}

/** The period's dataset bytes, header first, in chunks of about 1 MiB; an abort of `signal` stops it between blocks. */
export function* periodDatasetChunks(
  tableName: string,
  format: OutputFormat,
  header: string,
  period: PeriodRows,
  onProgress: (rowsDone: number) => void,
  signal?: AbortSignal,
): Generator<Buffer> {
  const writer = new PeriodLineWriter(tableName, format, period);
  const out = writer.out;
  out.text(header);
  const total = period.newRows.count + period.returningRows.count;
  for (let blockStart = 0; blockStart < total; blockStart += BLOCK_ROWS) {
    signal?.throwIfAborted();
    const count = Math.min(BLOCK_ROWS, total - blockStart);
    writer.block(blockStart, count);
    onProgress(blockStart + count);
    if (out.position >= CHUNK_BYTES) yield out.take();
  }
  if (out.position > 0) yield out.take();
}

/**
 * The reference segment of the new rows (rows first … first+count-1 of the spec's table): its header,
 * then per row its entity (firstEntity + i) and the cells of `keptColumns`, computing only those
 * columns and the columns they read. An abort of `signal` stops it between blocks.
 */
export function* segmentChunks(
  spec: SynthSpec,
  tableName: string,
  format: OutputFormat,
  header: string,
  rows: { first: number; count: number; firstEntity: number },
  keptColumns: number[],
  onProgress: (rowsDone: number) => void = () => undefined,
  signal?: AbortSignal,
): Generator<Buffer> {
  const { columns, order, byName } = generatorsFor(spec, tableName, format);
  const needed = new Set<string>();
  const need = (column: ColumnGenerator): void => {
    if (needed.has(column.name)) return;
    needed.add(column.name);
    column.dependsOn.forEach((name) => need(byName.get(name)!));
  };
  keptColumns.forEach((c) => need(columns[c]!));
  const computed = order.filter((column) => needed.has(column.name));
  const kept = keptColumns.map((c) => columns[c]!);
  const sep = DELIMITERS[format].charCodeAt(0);
  const out = new ByteWriter(CHUNK_BYTES + (1 << 16));
  out.text(header);
  const end = rows.first + rows.count;
  for (let blockStart = rows.first; blockStart < end; blockStart += BLOCK_ROWS) {
    signal?.throwIfAborted();
    const count = Math.min(BLOCK_ROWS, end - blockStart);
    for (const column of computed) column.compute(blockStart, count, byName);
    for (let row = 0; row < count; row++) {
      if (out.position + CELL_SLACK > out.buffer.length) out.ensure(CELL_SLACK);
      out.int(rows.firstEntity + blockStart - rows.first + row);
      for (const column of kept) {
        separator(out, sep);
        column.write(row, out);
      }
      separator(out, LF);
    }
    onProgress(blockStart + count - rows.first);
    if (out.position >= CHUNK_BYTES) yield out.take();
  }
  if (out.position > 0) yield out.take();
}
