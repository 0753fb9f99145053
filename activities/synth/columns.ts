/**
 * Column generators. For each block of rows a generator first computes its values column by column
 * (typed arrays, and raw values when another column reads them), then writes its cells row by row as
 * bytes. A cell depends only on (seed, table, column, row), never on earlier rows.
 */
import { ByteWriter } from './byte-writer';
import { alphabetIsSafe, escapeCell, type Delimiter } from '../storage/csv-cells';
import { compileExpression, type Value } from './expression';
import { alphabetIds, HEX_CODES } from './id-formats';
import * as random from './random';
import { groupSizeOf, idSpaceSize, parseDate, type ColumnOf, type ColumnSpec, type IdFormatSpec, type SynthSpec, type TableSpec } from './spec';
import { parseTextPattern } from './text-pattern';

export interface ColumnGenerator {
  readonly name: string;
  /** Names of same-row columns this one reads. */
  readonly dependsOn: string[];
  /** Raw values of the current block, kept only when another column reads them. */
  raw?: Value[];
  /** Computes the values of rows start … start+count-1 (the block). */
  compute(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>): void;
  /** Writes the CSV cell of the block's row `index`. */
  write(index: number, out: ByteWriter): void;
}

/** A table's primary key as a function of the row: how foreign keys point at rows without a pool. */
export interface PrimaryKey {
  rows: number;
  valueAt(row: number): string;
  writeValueAt(row: number, out: ByteWriter): void;
}

export interface GeneratorContext {
  spec: SynthSpec;
  table: TableSpec;
  delimiter: Delimiter;
  blockSize: number;
  primaryKeyOf(tableName: string): PrimaryKey;
}

// tsx compiles imports to getter calls on the module object; the hot loops call these local bindings.
const { below, cellHash, keyOf, mix32, nextHash, Permutation, standardNormal, unit } = random;
type Permutation = random.Permutation;

const encode = (text: string): Buffer => Buffer.from(text, 'utf8');
const isAscii = (text: string): boolean => /^[\x00-\x7f]*$/.test(text);

/** Missing cells: decided by their own draw so the value draws stay the same whatever `missing` is. */
function isMissing(hash: number, missing: number): boolean {
  return missing > 0 && unit(nextHash(hash, 1000)) < missing;
}

/** Writes a string cell, quoting it if needed. */
function writeTextCell(text: string, out: ByteWriter, delimiter: Delimiter, knownSafe = false): void {
  const cell = knownSafe ? text : escapeCell(text, delimiter);
  if (isAscii(cell)) out.ascii(cell);
  else out.text(cell);
}

abstract class BaseGenerator implements ColumnGenerator {
  raw?: Value[];
  readonly dependsOn: string[] = [];
  protected readonly key: number;
  protected start = 0;

  constructor(
    readonly name: string,
    protected readonly context: GeneratorContext,
    key?: number,
  ) {
    this.key = key ?? keyOf(context.spec.seed, context.table.name, name);
  }

  abstract compute(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>): void;
  abstract write(index: number, out: ByteWriter): void;
}

/** Chooses among weighted options with one uniform draw. */
class WeightedChoice {
  readonly cumulative: Float64Array;

  constructor(weights: number[]) {
    const total = weights.reduce((sum, w) => sum + w, 0);
    let running = 0;
    this.cumulative = Float64Array.from(weights, (w) => (running += w / total));
    this.cumulative[weights.length - 1] = 1;
  }

  pick(u: number): number {
    const cumulative = this.cumulative;
    const last = cumulative.length - 1;
    let k = 0;
    while (k < last && u >= cumulative[k]!) k++;
    return k;
  }
}

class CategoricalGenerator extends BaseGenerator {
  private readonly choice: WeightedChoice;
  private readonly values: string[];
  private readonly cells: Buffer[];
  private readonly picked: Int32Array;

  constructor(private readonly column: ColumnOf<'categorical'>, context: GeneratorContext) {
    super(column.name, context);
    const entries = Object.entries(column.values);
    this.values = entries.map(([value]) => value);
    this.cells = this.values.map((value) => encode(escapeCell(value, context.delimiter)));
    this.choice = new WeightedChoice(entries.map(([, p]) => p));
    this.picked = new Int32Array(context.blockSize);
  }

  compute(start: number, count: number): void {
    const { picked, raw, column, choice, values } = this;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      const k = isMissing(hash, column.missing) ? -1 : choice.pick(unit(hash));
      picked[i] = k;
      if (raw) raw[i] = k < 0 ? null : values[k]!;
    }
  }

  write(index: number, out: ByteWriter): void {
    const k = this.picked[index]!;
    if (k >= 0) out.bytes(this.cells[k]!);
  }
}

class NumericGenerator extends BaseGenerator {
  private readonly values: Float64Array;
  private readonly precision: number | undefined;

  constructor(private readonly column: ColumnOf<'numeric'>, context: GeneratorContext) {
    super(column.name, context);
    this.values = new Float64Array(context.blockSize);
    this.precision = column.kind === 'integer' ? 0 : column.precision;
  }

  private draw(hash: number): number {
    const { min, max, kind, distribution } = this.column;
    if (distribution === 'uniform') {
      if (kind === 'integer') {
        const low = Math.ceil(min);
        return low + below(hash, Math.floor(max) - low + 1);
      }
      return min + unit(hash) * (max - min);
    }
    // Normal, truncated to [min, max] by redrawing (bounded; the last resort is clamping).
    const mean = this.column.mean!;
    const sd = this.column.sd!;
    for (let attempt = 0; attempt < 64; attempt++) {
      const a = attempt === 0 ? hash : nextHash(hash, 2 * attempt);
      let value = mean + sd * standardNormal(a, nextHash(hash, 2 * attempt + 1));
      if (kind === 'integer') value = Math.round(value);
      if (value >= min && value <= max) return value;
    }
    return Math.min(max, Math.max(min, kind === 'integer' ? Math.round(mean) : mean));
  }

  compute(start: number, count: number): void {
    const { values, raw, column, precision } = this;
    const scale = precision === undefined ? 1 : 10 ** precision;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      if (isMissing(hash, column.missing)) {
        values[i] = NaN;
        if (raw) raw[i] = null;
        continue;
      }
      const value = this.draw(hash);
      values[i] = value;
      // Dependents see the value as written.
      if (raw) raw[i] = precision === undefined ? value : (value < 0 ? -Math.round(-value * scale) : Math.round(value * scale)) / scale;
    }
  }

  write(index: number, out: ByteWriter): void {
    const value = this.values[index]!;
    if (value !== value) return; // NaN: missing
    if (this.precision === undefined) out.ascii(String(value));
    else out.fixed(value, this.precision);
  }
}

const DAY = 86_400_000;

function pad2(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

/** strftime subset (%Y %m %d %H %M %S %%), or ISO 8601 without a format. */
export function formatDate(time: number, format: string | undefined, datetime: boolean): string {
  const date = new Date(time);
  if (format === undefined) return datetime ? date.toISOString().slice(0, 19) : date.toISOString().slice(0, 10);
  return format.replace(/%([YmdHMS%])/g, (_, code: string) => {
    switch (code) {
      case 'Y': return String(date.getUTCFullYear());
      case 'm': return pad2(date.getUTCMonth() + 1);
      case 'd': return pad2(date.getUTCDate());
      case 'H': return pad2(date.getUTCHours());
      case 'M': return pad2(date.getUTCMinutes());
      case 'S': return pad2(date.getUTCSeconds());
      default: return '%';
    }
  });
}

/** The instants a date column can take: every step of its frequency from `from` to `to`. */
export function dateCandidates(column: ColumnOf<'date'>): { count: number; at(index: number): number } {
  const from = parseDate(column.from)!;
  const to = parseDate(column.to)!;
  const frequency = column.frequency ?? (column.datetime ? undefined : 'D');
  if (frequency === undefined) {
    const seconds = Math.floor((to - from) / 1000) + 1;
    return { count: seconds, at: (index) => from + index * 1000 };
  }
  if (frequency === 'D' || frequency === 'W' || frequency === 'H') {
    const step = frequency === 'D' ? DAY : frequency === 'W' ? 7 * DAY : DAY / 24;
    return { count: Math.floor((to - from) / step) + 1, at: (index) => from + index * step };
  }
  // Month, quarter or year starts on or after `from`.
  const months = frequency === 'MS' ? 1 : frequency === 'QS' ? 3 : 12;
  const start = new Date(from);
  const startsExactly = start.getUTCDate() === 1 && start.getUTCHours() === 0 && start.getUTCMinutes() === 0 && start.getUTCSeconds() === 0;
  const startMonth = start.getUTCFullYear() * 12 + start.getUTCMonth();
  let month = startsExactly ? startMonth : startMonth + 1;
  while (month % months !== 0) month += 1;
  const at = (index: number): number => {
    const absolute = month + index * months;
    return Date.UTC(Math.floor(absolute / 12), absolute % 12, 1);
  };
  let count = 0;
  while (at(count) <= to) count++;
  return { count, at };
}

const DATE_CACHE_LIMIT = 200_000;

class DateGenerator extends BaseGenerator {
  private readonly candidates: ReturnType<typeof dateCandidates>;
  private readonly cached?: Buffer[];
  private readonly picked: Float64Array;

  constructor(private readonly column: ColumnOf<'date'>, context: GeneratorContext) {
    super(column.name, context);
    this.candidates = dateCandidates(column);
    this.picked = new Float64Array(context.blockSize);
    if (this.candidates.count <= DATE_CACHE_LIMIT) {
      this.cached = Array.from({ length: this.candidates.count }, (_, i) => encode(escapeCell(this.text(this.candidates.at(i)), context.delimiter)));
    }
  }

  private text(time: number): string {
    return formatDate(time, this.column.format, this.column.datetime || this.column.frequency === 'H');
  }

  compute(start: number, count: number): void {
    const { picked, raw, candidates } = this;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      const index = isMissing(hash, this.column.missing) || candidates.count === 0 ? -1 : below(hash, candidates.count);
      picked[i] = index;
      if (raw) raw[i] = index < 0 ? null : this.text(candidates.at(index));
    }
  }

  write(index: number, out: ByteWriter): void {
    const picked = this.picked[index]!;
    if (picked < 0) return;
    if (this.cached) out.bytes(this.cached[picked]!);
    else writeTextCell(this.text(this.candidates.at(picked)), out, this.context.delimiter);
  }
}

/**
 * Ids as a bijection from an index in [0, size) to text, written straight as bytes. UUIDs: the first
 * 32 bits are the index (unique), the other random bits a hash of it; version 4, RFC 4122 variant.
 */
class IdText {
  readonly size: number;
  private readonly prefix: Buffer;
  private readonly safe: boolean;
  private readonly lettersFormat?: ReturnType<typeof alphabetIds>;

  constructor(
    private readonly format: IdFormatSpec,
    private readonly key: number,
    private readonly delimiter: Delimiter,
  ) {
    this.size = idSpaceSize(format);
    this.prefix = encode(format.kind === 'uuid' ? escapeCell(format.prefix, delimiter) : '');
    this.safe = format.kind === 'letters' ? alphabetIsSafe(format.alphabet, delimiter) : format.kind === 'uuid' ? alphabetIsSafe(format.prefix, delimiter) : true;
    if (format.kind === 'letters') this.lettersFormat = alphabetIds(format.alphabet, format.minLength, format.maxLength);
  }

  text(index: number): string {
    const out = new ByteWriter(128);
    this.writeRaw(index, out);
    return out.buffer.toString('utf8', 0, out.position);
  }

  private writeRaw(index: number, out: ByteWriter): void {
    const format = this.format;
    switch (format.kind) {
      case 'digits':
        out.int(10 ** (format.minLength - 1) + index);
        return;
      case 'row-number':
        out.int(format.start + index);
        return;
      case 'letters':
        out.text(this.lettersFormat!.format(index));
        return;
      case 'uuid': {
        out.text(format.prefix);
        writeUuid(index, this.key, out);
      }
    }
  }

  write(index: number, out: ByteWriter): void {
    if (this.safe) {
      if (this.format.kind === 'uuid') {
        if (this.prefix.length > 0) out.bytes(this.prefix);
        writeUuid(index, this.key, out);
      } else this.writeRaw(index, out);
    } else writeTextCell(this.text(index), out, this.delimiter);
  }
}

function writeUuid(index: number, key: number, out: ByteWriter): void {
  const h1 = cellHash(key, index);
  const h2 = nextHash(h1, 1);
  const h3 = nextHash(h1, 2);
  out.ensure(36);
  const buffer = out.buffer;
  const p = out.position;
  const hex = HEX_CODES;
  // Bytes of the 16-byte UUID, each as two hex digits, with dashes after bytes 4, 6, 8 and 10. Unrolled:
  // a loop over the bytes made the whole benchmark table about 10 % slower (bench/synth-task serialize).
  let byte = index >>> 24;
  buffer[p] = hex[2 * byte]!; buffer[p + 1] = hex[2 * byte + 1]!;
  byte = (index >>> 16) & 255;
  buffer[p + 2] = hex[2 * byte]!; buffer[p + 3] = hex[2 * byte + 1]!;
  byte = (index >>> 8) & 255;
  buffer[p + 4] = hex[2 * byte]!; buffer[p + 5] = hex[2 * byte + 1]!;
  byte = index & 255;
  buffer[p + 6] = hex[2 * byte]!; buffer[p + 7] = hex[2 * byte + 1]!;
  buffer[p + 8] = 45;
  byte = h1 >>> 24;
  buffer[p + 9] = hex[2 * byte]!; buffer[p + 10] = hex[2 * byte + 1]!;
  byte = (h1 >>> 16) & 255;
  buffer[p + 11] = hex[2 * byte]!; buffer[p + 12] = hex[2 * byte + 1]!;
  buffer[p + 13] = 45;
  byte = 0x40 | ((h1 >>> 8) & 15); // version 4
  buffer[p + 14] = hex[2 * byte]!; buffer[p + 15] = hex[2 * byte + 1]!;
  byte = h1 & 255;
  buffer[p + 16] = hex[2 * byte]!; buffer[p + 17] = hex[2 * byte + 1]!;
  buffer[p + 18] = 45;
  byte = 0x80 | ((h2 >>> 24) & 63); // RFC 4122 variant
  buffer[p + 19] = hex[2 * byte]!; buffer[p + 20] = hex[2 * byte + 1]!;
  byte = (h2 >>> 16) & 255;
  buffer[p + 21] = hex[2 * byte]!; buffer[p + 22] = hex[2 * byte + 1]!;
  buffer[p + 23] = 45;
  byte = (h2 >>> 8) & 255;
  buffer[p + 24] = hex[2 * byte]!; buffer[p + 25] = hex[2 * byte + 1]!;
  byte = h2 & 255;
  buffer[p + 26] = hex[2 * byte]!; buffer[p + 27] = hex[2 * byte + 1]!;
  byte = h3 >>> 24;
  buffer[p + 28] = hex[2 * byte]!; buffer[p + 29] = hex[2 * byte + 1]!;
  byte = (h3 >>> 16) & 255;
  buffer[p + 30] = hex[2 * byte]!; buffer[p + 31] = hex[2 * byte + 1]!;
  byte = (h3 >>> 8) & 255;
  buffer[p + 32] = hex[2 * byte]!; buffer[p + 33] = hex[2 * byte + 1]!;
  byte = h3 & 255;
  buffer[p + 34] = hex[2 * byte]!; buffer[p + 35] = hex[2 * byte + 1]!;
  out.position = p + 36;
}

export class IdGenerator extends BaseGenerator implements PrimaryKey {
  private readonly id: IdText;
  private readonly permutation?: Permutation;
  private readonly indices: Float64Array;
  readonly rows: number;

  constructor(private readonly column: ColumnOf<'id'>, context: GeneratorContext) {
    super(column.name, context, keyOf(column.seed ?? context.spec.seed, context.table.name, column.name));
    this.id = new IdText(column.format, this.key, context.delimiter);
    this.rows = context.table.rows;
    this.indices = new Float64Array(context.blockSize);
    // Primary keys: a permutation of the row numbers into the id space, so every row's id is unique.
    if (column.primaryKey && column.format.kind !== 'row-number') {
      this.permutation = new Permutation(this.id.size, keyOf(this.key, 'permutation'));
    }
  }

  private indexOfRow(row: number): number {
    if (this.column.format.kind === 'row-number') return row;
    if (this.permutation) return this.permutation.apply(row);
    const hash = cellHash(this.key, row);
    if (isMissing(hash, this.column.missing)) return -1;
    // Two draws give 64 bits, enough for id spaces beyond 2^32.
    const index = Math.floor(((hash * 4294967296 + nextHash(hash, 1)) / 18446744073709552000) * this.id.size);
    return Math.min(index, this.id.size - 1);
  }

  /** The id of `row` as text (for foreign keys into this table). */
  valueAt(row: number): string {
    return this.id.text(this.indexOfRow(row));
  }

  writeValueAt(row: number, out: ByteWriter): void {
    this.id.write(this.indexOfRow(row), out);
  }

  compute(start: number, count: number): void {
    const { indices, raw } = this;
    for (let i = 0; i < count; i++) {
      const index = this.indexOfRow(start + i);
      indices[i] = index;
      if (raw) raw[i] = index < 0 ? null : this.id.text(index);
    }
  }

  write(index: number, out: ByteWriter): void {
    const idIndex = this.indices[index]!;
    if (idIndex >= 0) this.id.write(idIndex, out);
  }
}

class ForeignKeyGenerator extends BaseGenerator {
  private readonly target: PrimaryKey;
  private readonly targetRows: Float64Array;

  constructor(private readonly column: ColumnOf<'foreign-key'>, context: GeneratorContext) {
    super(column.name, context);
    this.target = context.primaryKeyOf(column.references.split('.')[0]!);
    this.targetRows = new Float64Array(context.blockSize);
  }

  compute(start: number, count: number): void {
    const { targetRows, raw, target } = this;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      const row = isMissing(hash, this.column.missing) ? -1 : below(hash, target.rows);
      targetRows[i] = row;
      if (raw) raw[i] = row < 0 ? null : target.valueAt(row);
    }
  }

  write(index: number, out: ByteWriter): void {
    const row = this.targetRows[index]!;
    if (row >= 0) this.target.writeValueAt(row, out);
  }
}

const GROUP_CACHE_LIMIT = 1_000_000;

class GroupedIdGenerator extends BaseGenerator {
  private readonly groupSize: number;
  private readonly id: IdText;
  private readonly permutation: Permutation;
  private readonly cached?: Buffer[];
  private readonly members: Int32Array;

  constructor(private readonly column: ColumnOf<'grouped-id'>, context: GeneratorContext) {
    super(column.name, context);
    this.groupSize = groupSizeOf(column, context.table.rows);
    this.id = new IdText(column.format, this.key, context.delimiter);
    this.permutation = new Permutation(this.id.size, keyOf(this.key, 'pool'));
    this.members = new Int32Array(context.blockSize);
    if (this.groupSize <= GROUP_CACHE_LIMIT) {
      this.cached = Array.from({ length: this.groupSize }, (_, i) => {
        const out = new ByteWriter(128);
        this.id.write(this.permutation.apply(i), out);
        return Buffer.from(out.buffer.subarray(0, out.position));
      });
    }
  }

  compute(start: number, count: number): void {
    const { members, raw, groupSize } = this;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      const member = isMissing(hash, this.column.missing) ? -1 : below(hash, groupSize);
      members[i] = member;
      if (raw) raw[i] = member < 0 ? null : this.id.text(this.permutation.apply(member));
    }
  }

  write(index: number, out: ByteWriter): void {
    const member = this.members[index]!;
    if (member < 0) return;
    if (this.cached) out.bytes(this.cached[member]!);
    else this.id.write(this.permutation.apply(member), out);
  }
}

interface Choice {
  values: string[];
  cells: Buffer[];
  weights?: WeightedChoice;
}

class PairedGenerator extends BaseGenerator {
  private readonly choices = new Map<string, Choice>();
  private readonly picked: Array<Buffer | undefined>;

  constructor(private readonly column: ColumnOf<'paired'>, context: GeneratorContext) {
    super(column.name, context);
    this.dependsOn.push(column.source);
    this.picked = new Array<Buffer | undefined>(context.blockSize);
    for (const [key, entry] of Object.entries(column.lookup)) {
      const values = typeof entry === 'string' ? [entry] : Array.isArray(entry) ? entry : Object.keys(entry);
      const choice: Choice = { values, cells: values.map((value) => encode(escapeCell(value, context.delimiter))) };
      if (typeof entry === 'object' && !Array.isArray(entry)) choice.weights = new WeightedChoice(Object.values(entry));
      this.choices.set(key, choice);
    }
  }

  compute(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>): void {
    const source = columns.get(this.column.source)!.raw!;
    const { picked, raw } = this;
    for (let i = 0; i < count; i++) {
      const sourceValue = source[i];
      const choice = sourceValue === null || sourceValue === undefined ? undefined : this.choices.get(String(sourceValue));
      const hash = cellHash(this.key, start + i);
      if (!choice || isMissing(hash, this.column.missing)) {
        picked[i] = undefined;
        if (raw) raw[i] = null;
        continue;
      }
      const k = choice.weights ? choice.weights.pick(unit(hash)) : below(hash, choice.values.length);
      picked[i] = choice.cells[k]!;
      if (raw) raw[i] = choice.values[k]!;
    }
  }

  write(index: number, out: ByteWriter): void {
    const cell = this.picked[index];
    if (cell) out.bytes(cell);
  }
}

const DEFAULT_TEXT_ALPHABET = 'abcdefghijklmnopqrstuvwxyz ';

class TextGenerator extends BaseGenerator {
  private readonly parts: Array<{ alphabet: string; codes: Uint16Array; min: number; max: number }>;
  /** ASCII and never needing quotes: written as bytes directly. */
  private readonly direct: boolean;
  private readonly codes: number[] = [];

  constructor(private readonly column: ColumnOf<'text'>, context: GeneratorContext) {
    super(column.name, context);
    const parts = column.pattern !== undefined
      ? parseTextPattern(column.pattern)
      : [{ alphabet: column.alphabet ?? DEFAULT_TEXT_ALPHABET, min: column.minLength ?? 1, max: column.maxLength ?? 20 }];
    this.parts = parts.map((part) => ({ ...part, codes: Uint16Array.from(part.alphabet, (char) => char.charCodeAt(0)) }));
    this.direct = parts.every((part) => alphabetIsSafe(part.alphabet, context.delimiter) && isAscii(part.alphabet));
  }

  /** Fills `codes` with the UTF-16 code units of row's text, or returns false when it is missing. */
  private draw(row: number): boolean {
    const hash = cellHash(this.key, row);
    if (isMissing(hash, this.column.missing)) return false;
    const codes = this.codes;
    codes.length = 0;
    let state = hash;
    for (const part of this.parts) {
      state = nextHash(state, 7);
      const repeat = part.min === part.max ? part.min : part.min + below(state, part.max - part.min + 1);
      const size = part.codes.length;
      for (let r = 0; r < repeat; r++) {
        state = mix32(state + 0x9e3779b9);
        codes.push(part.codes[size === 1 ? 0 : below(state, size)]!);
      }
    }
    return true;
  }

  compute(start: number, count: number): void {
    this.start = start;
    const raw = this.raw;
    if (!raw) return;
    for (let i = 0; i < count; i++) raw[i] = this.draw(start + i) ? String.fromCharCode(...this.codes) : null;
  }

  write(index: number, out: ByteWriter): void {
    if (!this.draw(this.start + index)) return;
    const codes = this.codes;
    if (this.direct) {
      out.ensure(codes.length);
      const buffer = out.buffer;
      let p = out.position;
      for (let i = 0; i < codes.length; i++) buffer[p++] = codes[i]!;
      out.position = p;
    } else writeTextCell(String.fromCharCode(...codes), out, this.context.delimiter);
  }
}

class ConstantGenerator extends BaseGenerator {
  private readonly cell: Buffer;

  constructor(private readonly column: ColumnOf<'constant'>, context: GeneratorContext) {
    super(column.name, context);
    this.cell = encode(escapeCell(String(column.value), context.delimiter));
  }

  compute(_start: number, count: number): void {
    if (this.raw) for (let i = 0; i < count; i++) this.raw[i] = this.column.value;
  }

  write(_index: number, out: ByteWriter): void {
    out.bytes(this.cell);
  }
}

class DerivedGenerator extends BaseGenerator {
  private readonly expression: ReturnType<typeof compileExpression>;
  private readonly results: Value[];

  constructor(private readonly column: ColumnOf<'derived'>, context: GeneratorContext) {
    super(column.name, context);
    this.expression = compileExpression(column.expression);
    this.dependsOn.push(...this.expression.columns);
    this.results = new Array<Value>(context.blockSize).fill(null);
  }

  compute(_start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>): void {
    const sources: Record<string, Value[]> = Object.create(null) as Record<string, Value[]>;
    for (const name of this.dependsOn) sources[name] = columns.get(name)!.raw!;
    let row = 0;
    const lookup = (name: string): Value => sources[name]![row] ?? null;
    const { results, raw } = this;
    for (row = 0; row < count; row++) {
      let value = this.expression.evaluate(lookup);
      if (typeof value === 'number' && !Number.isFinite(value)) value = null;
      results[row] = value;
      if (raw) raw[row] = value;
    }
  }

  write(index: number, out: ByteWriter): void {
    const value = this.results[index]!;
    if (value === null) return;
    if (typeof value === 'number') {
      if (this.column.precision === undefined) out.ascii(String(value));
      else out.fixed(value, this.column.precision);
    } else writeTextCell(String(value), out, this.context.delimiter);
  }
}

export function createColumnGenerator(column: ColumnSpec, context: GeneratorContext): ColumnGenerator {
  switch (column.type) {
    case 'categorical': return new CategoricalGenerator(column, context);
    case 'numeric': return new NumericGenerator(column, context);
    case 'date': return new DateGenerator(column, context);
    case 'id': return new IdGenerator(column, context);
    case 'foreign-key': return new ForeignKeyGenerator(column, context);
    case 'grouped-id': return new GroupedIdGenerator(column, context);
    case 'paired': return new PairedGenerator(column, context);
    case 'text': return new TextGenerator(column, context);
    case 'constant': return new ConstantGenerator(column, context);
    case 'derived': return new DerivedGenerator(column, context);
  }
}
