/**
 * Generating a table as CSV/TSV text, block by block, for any row range. Concatenating the outputs of
 * consecutive ranges gives exactly the output of the whole table: shards can run anywhere, in any order.
 */
import { Readable } from 'node:stream';

import { type StreamedFile, streamToFileAtomicSha256 } from '../storage/atomic-write';
import { csvLine, DELIMITERS, type OutputFormat } from '../storage/csv-cells';
import { ByteWriter } from './byte-writer';
import { type ColumnGenerator, createColumnGenerator, FixedColumn, type GeneratorContext, IdGenerator, NumericGenerator, type PrimaryKey } from './columns';
import { crossJoinOf } from './cross-join';
import { applyCustomConstraints, type ColumnValues, constraintColumns } from './custom-constraints';
import type { Value } from './expression';
import { dependenciesOf, generatedWhole, SpecError, type SynthSpec, type TableSpec } from './spec';

export const BLOCK_ROWS = 4096;

export interface TableOutputOptions {
  format: OutputFormat;
  /** First row (inclusive) and last row (exclusive) of this shard; the whole table by default. */
  start?: number;
  end?: number;
  /** Write the header line (only ever in the shard that starts at row 0). */
  header?: boolean;
  /** A first comment line, e.g. seed 000's `# {"Date generated": …}`; only in the shard at row 0. */
  commentLine?: string;
}

function tableOf(spec: SynthSpec, name: string): TableSpec {
  const table = spec.tables.find((candidate) => candidate.name === name);
  if (!table) throw new SpecError([`tables: no table "${name}"`]);
  return table;
}

/** Columns in an order where every column comes after the columns it reads. */
function fillOrder(columns: ColumnGenerator[]): ColumnGenerator[] {
  const byName = new Map(columns.map((column) => [column.name, column]));
  const ordered: ColumnGenerator[] = [];
  const placed = new Set<string>();
  const place = (column: ColumnGenerator): void => {
    if (placed.has(column.name)) return;
    placed.add(column.name);
    column.dependsOn.forEach((name) => place(byName.get(name)!));
    ordered.push(column);
  };
  columns.forEach(place);
  return ordered;
}

/**
 * The table's column generators in fill order. `fixed`: columns whose whole-table values are already
 * decided (custom constraints); the columns reading them are computed from those values.
 */
export function createTableGenerators(spec: SynthSpec, tableName: string, format: OutputFormat, withSums = true, fixed?: ReadonlyMap<string, Value[]>) {
  const table = tableOf(spec, tableName);
  const crossJoin = crossJoinOf(table);
  const primaryKeys = new Map<string, PrimaryKey>();
  const context: GeneratorContext = {
    spec,
    table,
    delimiter: DELIMITERS[format],
    blockSize: BLOCK_ROWS,
    ...(crossJoin ? { crossJoin } : {}),
    primaryKeyOf(name) {
      let key = primaryKeys.get(name);
      if (!key) {
        const target = tableOf(spec, name);
        const column = target.columns.find((candidate) => candidate.type === 'id' && candidate.primaryKey);
        if (!column || column.type !== 'id') throw new SpecError([`tables: "${name}" has no primary key`]);
        key = new IdGenerator(column, { ...context, table: target, blockSize: 0 });
        primaryKeys.set(name, key);
      }
      return key;
    },
  };
  const columns: ColumnGenerator[] = table.columns.map((column) => {
    const values = fixed?.get(column.name);
    return values ? new FixedColumn(column, values, context) : createColumnGenerator(column, context);
  });
  const read = new Set(table.columns.flatMap((column) => dependenciesOf(column, table)));
  for (const column of columns) if (read.has(column.name)) column.raw ??= new Array(BLOCK_ROWS).fill(null);
  const generators = { table, columns, order: fillOrder(columns), delimiter: DELIMITERS[format] };
  if (withSums) planSums(spec, tableName, format, columns, fixed);
  return generators;
}

/**
 * A table's custom constraints, applied: the whole table is drawn once (the columns the constraints read
 * or change, kept in memory), the constraints change those values, and the changed columns come back to
 * be written as they are, with the columns that read them (weights, pairs, derived) computed from them.
 */
function constrainedValues(spec: SynthSpec, tableName: string, format: OutputFormat): Map<string, Value[]> {
  const { table, columns, order } = createTableGenerators(spec, tableName, format);
  const names = constraintColumns(table);
  const kept = columns.filter((column) => names.has(column.name));
  const data = new Map<string, ColumnValues>();
  for (const column of kept) {
    column.raw ??= new Array(BLOCK_ROWS).fill(null);
    data.set(column.name, { values: new Array<Value>(table.rows), ...(column.orderKey ? { order: new Float64Array(table.rows) } : {}) });
  }
  const byName = new Map(columns.map((column) => [column.name, column]));
  for (let blockStart = 0; blockStart < table.rows; blockStart += BLOCK_ROWS) {
    const count = Math.min(BLOCK_ROWS, table.rows - blockStart);
    for (const column of order) column.compute(blockStart, count, byName);
    for (const column of kept) {
      const { values, order: keys } = data.get(column.name)!;
      for (let i = 0; i < count; i++) values[blockStart + i] = column.raw![i] ?? null;
      if (keys) for (let i = 0; i < count; i++) keys[blockStart + i] = column.orderKey!(i);
    }
  }
  const changed = applyCustomConstraints(spec, table, data);
  return new Map([...changed].map((name) => [name, data.get(name)!.values]));
}

/**
 * Columns with a `sum` (exhibit's target_sum) need two facts about the whole table before any row is
 * written: the scale that makes the values add up to the total, and, for integers, how many leading rows
 * round up. Two passes over the columns their weights read (cheap: categorical draws), on generators of
 * their own, so every shard of the table computes the same constants.
 */
function planSums(spec: SynthSpec, tableName: string, format: OutputFormat, columns: ColumnGenerator[], fixed?: ReadonlyMap<string, Value[]>): void {
  const summed = columns.filter((column): column is NumericGenerator => column instanceof NumericGenerator && column.needsTablePass);
  if (summed.length === 0) return;
  const scratch = createTableGenerators(spec, tableName, format, false, fixed);
  const byName = new Map(scratch.columns.map((column) => [column.name, column]));
  const rows = scratch.table.rows;
  const values = new Float64Array(BLOCK_ROWS);
  for (const target of summed) {
    const generator = byName.get(target.name) as NumericGenerator;
    const needed = new Set<string>();
    const need = (name: string): void => {
      if (needed.has(name)) return;
      needed.add(name);
      byName.get(name)!.dependsOn.forEach(need);
    };
    generator.weightSources.forEach(need);
    const order = scratch.order.filter((column) => needed.has(column.name));
    const pass = (visit: (value: number) => void): void => {
      for (let blockStart = 0; blockStart < rows; blockStart += BLOCK_ROWS) {
        const count = Math.min(BLOCK_ROWS, rows - blockStart);
        for (const column of order) column.compute(blockStart, count, byName);
        generator.unscaledValues(blockStart, count, byName, values);
        for (let i = 0; i < count; i++) visit(values[i]!);
      }
    };
    const { sum = 0, kind, rescale } = target.column;
    const integer = kind === 'integer';
    if (rescale) {
      let low = Infinity;
      let high = -Infinity;
      pass((value) => {
        if (value < low) low = value;
        if (value > high) high = value;
      });
      target.tablePlan = { scale: 1, boundary: 0, low, high };
      continue;
    }
    let total = 0;
    pass((value) => (total += value));
    const scale = total > 0 ? sum / total : 0;
    let floors = 0;
    if (integer) pass((value) => (floors += Math.floor(value * scale)));
    target.tablePlan = { scale, boundary: integer ? Math.max(0, Math.round(sum - floors)) : 0 };
  }
}

/** The table's bytes for a row range, in blocks of BLOCK_ROWS rows. */
export function* generateTableChunks(spec: SynthSpec, tableName: string, options: TableOutputOptions): Generator<Buffer> {
  const whole = tableOf(spec, tableName);
  const start = options.start ?? 0;
  const end = Math.min(options.end ?? whole.rows, whole.rows);
  if (start < 0 || start > end) throw new RangeError(`row range ${start}..${end} is outside 0..${whole.rows}`);
  // Rows that depend on each other (unique columns drop repeats, custom constraints work on whole columns): the table is generated whole.
  if (generatedWhole(whole) && (start !== 0 || end !== whole.rows)) {
    throw new RangeError(`table "${whole.name}" has ${whole.unique ? 'unique columns' : 'custom constraints'}, so it is generated whole, not as rows ${start}..${end}`);
  }
  const fixed = whole.customConstraints && whole.rows > 0 ? constrainedValues(spec, tableName, options.format) : undefined;
  const { table, columns, order, delimiter } = createTableGenerators(spec, tableName, options.format, true, fixed);
  if (start === 0) {
    let prologue = options.commentLine === undefined ? '' : `# ${options.commentLine.replace(/[\r\n]+/g, ' ')}\n`;
    if (options.header ?? true) prologue += csvLine(table.columns.map((column) => column.name), delimiter);
    if (prologue) yield Buffer.from(prologue, 'utf8');
  }
  const byName = new Map(columns.map((column) => [column.name, column]));
  const width = columns.length;
  const separator = delimiter.charCodeAt(0);
  const out = new ByteWriter(1 << 20);
  // A table with unique columns drops rows repeating an earlier row's values there.
  const unique = table.unique?.map((name) => columns.findIndex((column) => column.name === name));
  // When the unique columns lead the row (exhibit's case: every column but the numbers), a row's key is its
  // first cells' bytes, read before the rest is written: a repeated row costs only those cells.
  const uniquePrefix = unique && unique.length > 0 && unique.every((c, i) => c === i) ? unique.length : 0;
  const seen = new Set<string>();
  const cellStarts = new Int32Array(width + 1);
  for (let blockStart = start; blockStart < end; blockStart += BLOCK_ROWS) {
    const count = Math.min(BLOCK_ROWS, end - blockStart);
    for (const column of order) column.compute(blockStart, count, byName);
    for (let row = 0; row < count; row++) {
      out.ensure(width + 2);
      const lineStart = out.position;
      cellStarts[0] = lineStart;
      columns[0]!.write(row, out);
      // A one-column row with nothing in it would be a blank line, which pandas and readr skip: write "".
      if (width === 1 && out.position === lineStart) {
        out.byte(34);
        out.byte(34);
      }
      let c = 1;
      if (uniquePrefix > 0) {
        for (; c < uniquePrefix; c++) {
          if (out.position >= out.buffer.length) out.ensure(1);
          out.byte(separator);
          columns[c]!.write(row, out);
        }
        // The cells' CSV bytes with their separators: quoting makes them one-to-one with the values.
        const key = out.buffer.toString('latin1', lineStart, out.position);
        if (seen.has(key)) {
          out.position = lineStart;
          continue;
        }
        seen.add(key);
      }
      for (; c < width; c++) {
        cellStarts[c] = out.position + 1;
        // A cell may have ended exactly at the buffer's end: the separator needs its byte.
        if (out.position >= out.buffer.length) out.ensure(1);
        out.byte(separator);
        columns[c]!.write(row, out);
      }
      if (unique && uniquePrefix === 0) {
        cellStarts[width] = out.position + 1;
        let key = '';
        for (const c of unique) key += `${out.buffer.toString('latin1', cellStarts[c]!, cellStarts[c + 1]! - 1)}\u0000`;
        if (seen.has(key)) {
          out.position = lineStart;
          continue;
        }
        seen.add(key);
      }
      out.byte(10);
    }
    yield out.take();
  }
}

/** Rows generated to estimate a table's size. */
const SAMPLE_ROWS = 2000;

/** A table's estimated bytes for `rows` rows (its own count by default), scaled from its first rows' (no header). */
export function estimateTableBytes(spec: SynthSpec, tableName: string, format: OutputFormat, rows = tableOf(spec, tableName).rows): number {
  const table = tableOf(spec, tableName);
  const sampled = Math.min(SAMPLE_ROWS, table.rows);
  if (sampled === 0 || rows === 0) return 0;
  // A table generated whole cannot be sampled as a row range: its rows as drawn, before the whole-table rules, are as wide.
  const sampleSpec = generatedWhole(table) ? { ...spec, tables: spec.tables.map((other) => (other === table ? { ...other, unique: undefined, customConstraints: undefined } : other)) } : spec;
  const sample = Buffer.byteLength(generateTableText(sampleSpec, tableName, { format, end: sampled, header: false }));
  return Math.ceil((sample / sampled) * rows);
}

/** The same, as text (tests and small tables). */
export function generateTableText(spec: SynthSpec, tableName: string, options: TableOutputOptions): string {
  return Buffer.concat([...generateTableChunks(spec, tableName, options)]).toString('utf8');
}

/** Streams a table (or a shard of it) to a file through a temporary name, in constant memory. */
export async function writeTableFile(
  spec: SynthSpec,
  tableName: string,
  path: string,
  options: TableOutputOptions & { onProgress?: (bytes: number) => void; signal?: AbortSignal; flush?: boolean },
): Promise<Omit<StreamedFile, 'md5'> & { crc32: number }> {
  return streamToFileAtomicSha256(Readable.from(generateTableChunks(spec, tableName, options), { objectMode: false }), path, {
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.flush === false ? { flush: false } : {}),
  });
}
