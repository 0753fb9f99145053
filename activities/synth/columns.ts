/**
 * Column generators. Each fills, for a block of rows, the CSV-ready cells and (when another column reads
 * it) the raw values. A cell depends only on (seed, table, column, row), never on earlier rows.
 */
import { alphabetIsSafe, escapeCell, type Delimiter } from './csv';
import { compileExpression, type Value } from './expression';
import { alphabetIds, digitIds, uuidIds, type IdFormat } from './id-formats';
import { below, cellHash, keyOf, mix32, nextHash, Permutation, standardNormal, unit } from './random';
import { groupSizeOf, parseDate, type ColumnOf, type ColumnSpec, type IdFormatSpec, type SynthSpec, type TableSpec } from './spec';
import { parseTextPattern } from './text-pattern';

export interface ColumnGenerator {
  readonly name: string;
  /** Names of same-row columns this one reads. */
  readonly dependsOn: string[];
  /** CSV-ready cells of the current block. */
  readonly cells: string[];
  /** Raw values of the current block, kept only when another column reads them. */
  raw?: Value[];
  fill(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>): void;
}

/** A table's primary key as a function of the row: how foreign keys point at rows without a pool. */
export interface PrimaryKey {
  rows: number;
  valueAt(row: number): string;
}

export interface GeneratorContext {
  spec: SynthSpec;
  table: TableSpec;
  delimiter: Delimiter;
  blockSize: number;
  primaryKeyOf(tableName: string): PrimaryKey;
}

const POW10 = Array.from({ length: 11 }, (_, i) => 10 ** i);
const ZEROS = Array.from({ length: 11 }, (_, i) => '0'.repeat(i));

/** Fixed-point text of `value` with `decimals` places (round half away from zero on the scaled value). */
export function formatFixed(value: number, decimals: number): string {
  if (decimals === 0) return String(Math.round(value));
  const scale = POW10[decimals]!;
  const scaled = Math.round(Math.abs(value) * scale);
  const whole = Math.floor(scaled / scale);
  const fraction = String(scaled - whole * scale);
  const sign = value < 0 && scaled !== 0 ? '-' : '';
  return `${sign}${whole}.${ZEROS[decimals - fraction.length]}${fraction}`;
}

export function idFormatOf(format: IdFormatSpec, key: number): IdFormat {
  switch (format.kind) {
    case 'uuid':
      return uuidIds(key, format.prefix);
    case 'digits':
      return digitIds(format.minLength, format.maxLength);
    case 'letters':
      return alphabetIds(format.alphabet, format.minLength, format.maxLength);
    case 'row-number':
      return { size: Number.MAX_SAFE_INTEGER, format: (index) => String(format.start + index) };
  }
}

/** Missing cells: decided by their own draw so the value draws stay the same whatever `missing` is. */
function isMissing(hash: number, missing: number): boolean {
  return missing > 0 && unit(nextHash(hash, 1000)) < missing;
}

abstract class BaseGenerator implements ColumnGenerator {
  readonly cells: string[];
  raw?: Value[];
  readonly dependsOn: string[] = [];
  protected readonly key: number;

  constructor(
    readonly name: string,
    protected readonly context: GeneratorContext,
    key?: number,
  ) {
    this.cells = new Array<string>(context.blockSize).fill('');
    this.key = key ?? keyOf(context.spec.seed, context.table.name, name);
  }

  abstract fill(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>): void;
}

class CategoricalGenerator extends BaseGenerator {
  private readonly cumulative: Float64Array;
  private readonly values: string[];
  private readonly escaped: string[];

  constructor(private readonly column: ColumnOf<'categorical'>, context: GeneratorContext) {
    super(column.name, context);
    const entries = Object.entries(column.values);
    const total = entries.reduce((sum, [, p]) => sum + p, 0);
    this.values = entries.map(([value]) => value);
    this.escaped = this.values.map((value) => escapeCell(value, context.delimiter));
    this.cumulative = new Float64Array(entries.length);
    let running = 0;
    entries.forEach(([, p], i) => {
      running += p / total;
      this.cumulative[i] = running;
    });
    this.cumulative[entries.length - 1] = 1;
  }

  fill(start: number, count: number): void {
    const { cumulative, escaped, values, cells, raw } = this;
    const last = cumulative.length - 1;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      if (isMissing(hash, this.column.missing)) {
        cells[i] = '';
        if (raw) raw[i] = null;
        continue;
      }
      const u = unit(hash);
      let k = 0;
      while (k < last && u >= cumulative[k]!) k++;
      cells[i] = escaped[k]!;
      if (raw) raw[i] = values[k]!;
    }
  }
}

class NumericGenerator extends BaseGenerator {
  constructor(private readonly column: ColumnOf<'numeric'>, context: GeneratorContext) {
    super(column.name, context);
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

  fill(start: number, count: number): void {
    const { cells, raw, column } = this;
    const precision = column.kind === 'integer' ? 0 : column.precision;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      if (isMissing(hash, column.missing)) {
        cells[i] = '';
        if (raw) raw[i] = null;
        continue;
      }
      let value = this.draw(hash);
      if (precision !== undefined) {
        cells[i] = formatFixed(value, precision);
        value = Math.round(value * POW10[precision]!) / POW10[precision]!;
      } else cells[i] = String(value);
      if (raw) raw[i] = value;
    }
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
  let year = start.getUTCFullYear();
  let month = start.getUTCMonth();
  if (frequency === 'QS') month = Math.ceil(month / 3) * 3;
  if (frequency === 'YS') month = month === 0 ? 0 : 12;
  if (start.getUTCDate() !== 1 || start.getUTCHours() !== 0 || start.getUTCMinutes() !== 0) {
    if (frequency === 'MS') month += 1;
    else if (frequency === 'QS' && month === start.getUTCMonth()) month += 3;
    else if (frequency === 'YS' && month === 0) month = 12;
  }
  const first = Date.UTC(year, month, 1);
  year = new Date(first).getUTCFullYear();
  month = new Date(first).getUTCMonth();
  const at = (index: number): number => Date.UTC(year, month + index * months, 1);
  let count = 0;
  while (at(count) <= to) count++;
  return { count, at };
}

const DATE_CACHE_LIMIT = 200_000;

class DateGenerator extends BaseGenerator {
  private readonly candidates: ReturnType<typeof dateCandidates>;
  private readonly cached?: string[];

  constructor(private readonly column: ColumnOf<'date'>, context: GeneratorContext) {
    super(column.name, context);
    this.candidates = dateCandidates(column);
    if (this.candidates.count <= DATE_CACHE_LIMIT) {
      this.cached = Array.from({ length: this.candidates.count }, (_, i) => escapeCell(this.text(this.candidates.at(i)), context.delimiter));
    }
  }

  private text(time: number): string {
    return formatDate(time, this.column.format, this.column.datetime || this.column.frequency === 'H');
  }

  fill(start: number, count: number): void {
    const { cells, raw, cached, candidates } = this;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      if (isMissing(hash, this.column.missing) || candidates.count === 0) {
        cells[i] = '';
        if (raw) raw[i] = null;
        continue;
      }
      const index = below(hash, candidates.count);
      cells[i] = cached ? cached[index]! : escapeCell(this.text(candidates.at(index)), this.context.delimiter);
      if (raw) raw[i] = cached ? cached[index]! : this.text(candidates.at(index));
    }
  }
}

/** Ids as a function of an index; unsafe characters (a letters alphabet with a comma) are escaped. */
function idText(format: IdFormat, index: number, safe: boolean, delimiter: Delimiter): string {
  const text = format.format(index);
  return safe ? text : escapeCell(text, delimiter);
}

function idFormatIsSafe(spec: IdFormatSpec, delimiter: Delimiter): boolean {
  if (spec.kind === 'letters') return alphabetIsSafe(spec.alphabet, delimiter);
  if (spec.kind === 'uuid') return alphabetIsSafe(spec.prefix, delimiter);
  return true;
}

export class IdGenerator extends BaseGenerator implements PrimaryKey {
  private readonly format: IdFormat;
  private readonly permutation?: Permutation;
  private readonly safe: boolean;
  readonly rows: number;

  constructor(private readonly column: ColumnOf<'id'>, context: GeneratorContext) {
    super(column.name, context, column.seed === undefined ? undefined : keyOf('column-seed', column.seed, context.table.name, column.name));
    this.format = idFormatOf(column.format, this.key);
    this.safe = idFormatIsSafe(column.format, context.delimiter);
    this.rows = context.table.rows;
    // Primary keys: a permutation of the row numbers into the id space, so every row's id is unique.
    if (column.primaryKey && column.format.kind !== 'row-number') {
      this.permutation = new Permutation(this.format.size, keyOf(this.key, 'permutation'));
    }
  }

  /** The raw id of `row` (for foreign keys into this table). */
  valueAt(row: number): string {
    if (this.column.format.kind === 'row-number') return this.format.format(row);
    return this.format.format(this.permutation!.apply(row));
  }

  fill(start: number, count: number): void {
    const { cells, raw, column, format, safe } = this;
    for (let i = 0; i < count; i++) {
      const row = start + i;
      let text: string;
      if (column.primaryKey || column.format.kind === 'row-number') {
        text = this.valueAt(row);
      } else {
        const hash = cellHash(this.key, row);
        if (isMissing(hash, column.missing)) {
          cells[i] = '';
          if (raw) raw[i] = null;
          continue;
        }
        // Two draws give 64 bits, enough for id spaces beyond 2^32.
        const index = Math.floor(((hash * 4294967296 + nextHash(hash, 1)) / 18446744073709552000) * format.size);
        text = format.format(Math.min(index, format.size - 1));
      }
      cells[i] = safe ? text : escapeCell(text, this.context.delimiter);
      if (raw) raw[i] = text;
    }
  }
}

class ForeignKeyGenerator extends BaseGenerator {
  private readonly target: PrimaryKey;

  constructor(private readonly column: ColumnOf<'foreign-key'>, context: GeneratorContext) {
    super(column.name, context);
    this.target = context.primaryKeyOf(column.references.split('.')[0]!);
  }

  fill(start: number, count: number): void {
    const { cells, raw, target } = this;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      if (isMissing(hash, this.column.missing)) {
        cells[i] = '';
        if (raw) raw[i] = null;
        continue;
      }
      const text = target.valueAt(below(hash, target.rows));
      cells[i] = escapeCell(text, this.context.delimiter);
      if (raw) raw[i] = text;
    }
  }
}

const GROUP_CACHE_LIMIT = 1_000_000;

class GroupedIdGenerator extends BaseGenerator {
  private readonly groupSize: number;
  private readonly pool: (index: number) => string;

  constructor(private readonly column: ColumnOf<'grouped-id'>, context: GeneratorContext) {
    super(column.name, context);
    this.groupSize = groupSizeOf(column, context.table.rows);
    const format = idFormatOf(column.format, this.key);
    const permutation = new Permutation(format.size, keyOf(this.key, 'pool'));
    const safe = idFormatIsSafe(column.format, context.delimiter);
    const member = (index: number): string => idText(format, permutation.apply(index), safe, context.delimiter);
    if (this.groupSize <= GROUP_CACHE_LIMIT) {
      const cached = Array.from({ length: this.groupSize }, (_, i) => member(i));
      this.pool = (index) => cached[index]!;
    } else this.pool = member;
  }

  fill(start: number, count: number): void {
    const { cells, raw, groupSize, pool } = this;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      if (isMissing(hash, this.column.missing)) {
        cells[i] = '';
        if (raw) raw[i] = null;
        continue;
      }
      cells[i] = pool(below(hash, groupSize));
      if (raw) raw[i] = cells[i]!;
    }
  }
}

interface Choice {
  values: string[];
  escaped: string[];
  cumulative?: Float64Array;
}

class PairedGenerator extends BaseGenerator {
  private readonly choices = new Map<string, Choice>();

  constructor(private readonly column: ColumnOf<'paired'>, context: GeneratorContext) {
    super(column.name, context);
    this.dependsOn.push(column.source);
    for (const [key, entry] of Object.entries(column.lookup)) {
      const values = typeof entry === 'string' ? [entry] : Array.isArray(entry) ? entry : Object.keys(entry);
      const choice: Choice = { values, escaped: values.map((value) => escapeCell(value, context.delimiter)) };
      if (typeof entry === 'object' && !Array.isArray(entry)) {
        const weights = Object.values(entry);
        const total = weights.reduce((sum, w) => sum + w, 0);
        let running = 0;
        choice.cumulative = Float64Array.from(weights, (w) => (running += w / total));
      }
      this.choices.set(key, choice);
    }
  }

  fill(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>): void {
    const source = columns.get(this.column.source)!.raw!;
    const { cells, raw } = this;
    for (let i = 0; i < count; i++) {
      const sourceValue = source[i];
      const choice = sourceValue === null || sourceValue === undefined ? undefined : this.choices.get(String(sourceValue));
      const hash = cellHash(this.key, start + i);
      if (!choice || isMissing(hash, this.column.missing)) {
        cells[i] = '';
        if (raw) raw[i] = null;
        continue;
      }
      let k = 0;
      if (choice.cumulative) {
        const u = unit(hash);
        while (k < choice.values.length - 1 && u >= choice.cumulative[k]!) k++;
      } else k = below(hash, choice.values.length);
      cells[i] = choice.escaped[k]!;
      if (raw) raw[i] = choice.values[k]!;
    }
  }
}

const DEFAULT_TEXT_ALPHABET = 'abcdefghijklmnopqrstuvwxyz ';

class TextGenerator extends BaseGenerator {
  private readonly parts: Array<{ alphabet: string; min: number; max: number }>;
  private readonly safe: boolean;
  private readonly codes: number[] = [];

  constructor(private readonly column: ColumnOf<'text'>, context: GeneratorContext) {
    super(column.name, context);
    this.parts = column.pattern !== undefined
      ? parseTextPattern(column.pattern)
      : [{ alphabet: column.alphabet ?? DEFAULT_TEXT_ALPHABET, min: column.minLength ?? 1, max: column.maxLength ?? 20 }];
    this.safe = this.parts.every((part) => alphabetIsSafe(part.alphabet, context.delimiter));
  }

  fill(start: number, count: number): void {
    const { cells, raw, parts } = this;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, start + i);
      if (isMissing(hash, this.column.missing)) {
        cells[i] = '';
        if (raw) raw[i] = null;
        continue;
      }
      const codes = this.codes;
      codes.length = 0;
      let state = hash;
      for (const part of parts) {
        state = nextHash(state, 7);
        const repeat = part.min === part.max ? part.min : part.min + below(state, part.max - part.min + 1);
        const size = part.alphabet.length;
        for (let r = 0; r < repeat; r++) {
          state = mix32(state + 0x9e3779b9);
          codes.push(part.alphabet.charCodeAt(size === 1 ? 0 : below(state, size)));
        }
      }
      const text = String.fromCharCode.apply(null, codes);
      cells[i] = this.safe ? text : escapeCell(text, this.context.delimiter);
      if (raw) raw[i] = text;
    }
  }
}

class ConstantGenerator extends BaseGenerator {
  private filledUpTo = 0;
  private readonly text: string;

  constructor(private readonly column: ColumnOf<'constant'>, context: GeneratorContext) {
    super(column.name, context);
    this.text = escapeCell(String(column.value), context.delimiter);
  }

  fill(_start: number, count: number): void {
    for (let i = this.filledUpTo; i < count; i++) this.cells[i] = this.text;
    this.filledUpTo = Math.max(this.filledUpTo, count);
    if (this.raw) for (let i = 0; i < count; i++) this.raw[i] = this.column.value;
  }
}

class DerivedGenerator extends BaseGenerator {
  private readonly expression: ReturnType<typeof compileExpression>;

  constructor(private readonly column: ColumnOf<'derived'>, context: GeneratorContext) {
    super(column.name, context);
    this.expression = compileExpression(column.expression);
    this.dependsOn.push(...this.expression.columns);
  }

  fill(_start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>): void {
    const sources = new Map(this.dependsOn.map((name) => [name, columns.get(name)!.raw!]));
    let row = 0;
    const lookup = (name: string): Value => sources.get(name)![row] ?? null;
    const { cells, raw } = this;
    const precision = this.column.precision;
    for (row = 0; row < count; row++) {
      const value = this.expression.evaluate(lookup);
      let text: string;
      if (value === null || (typeof value === 'number' && !Number.isFinite(value))) text = '';
      else if (typeof value === 'number') text = precision === undefined ? String(value) : formatFixed(value, precision);
      else text = escapeCell(String(value), this.context.delimiter);
      cells[row] = text;
      if (raw) raw[row] = value === null || (typeof value === 'number' && !Number.isFinite(value)) ? null : value;
    }
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
