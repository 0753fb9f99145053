/**
 * The column generators, one class per column type (see column-generator.ts for the contract). Calendar
 * math is in calendar.ts, byte-level id encoding in id-text.ts, weighted sampling in weighted-choice.ts.
 */
import { alphabetIsSafe, escapeCell } from '../storage/csv-cells';
import { ByteWriter } from './byte-writer';
import { type DateCandidates, dateCandidates, formatDate } from './calendar';
import { encode, isAscii, writeTextCell } from './cell-text';
import * as base from './column-generator';
import { BaseGenerator, type ColumnGenerator, type GeneratorContext, type PrimaryKey } from './column-generator';
import { conditionalFactors, type SourceFactors, weightedRange } from './conditional';
import { joinedIndex } from './cross-join';
import { compileExpression, type Value } from './expression';
import { IdText } from './id-text';
import * as random from './random';
import { type ColumnOf, type ColumnSpec, constraintsOn, groupSizeOf, idsOfFrequencies } from './spec';
import { parseTextPattern } from './text-pattern';
import { WeightedChoice } from './weighted-choice';

export type { ColumnGenerator, GeneratorContext, PrimaryKey } from './column-generator';

/**
 * Constants of a column that depend on the whole table: a `sum` column's scale (values times it add up to
 * the total) and rounding boundary (integer rows below it round up); a `rescale` column's smallest and
 * largest draw.
 */
export interface TablePlan {
  scale: number;
  boundary: number;
  low?: number;
  high?: number;
}

// tsx compiles imports to getter calls on the module object; the hot loops call these local bindings.
const { below, cellHash, keyOf, mix32, nextHash, Permutation, standardNormal, unit } = random;
type Permutation = random.Permutation;
const { isMissing } = base;

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

  compute(start: number, count: number, _columns?: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void {
    const { picked, raw, column, choice, values } = this;
    const crossJoin = this.context.crossJoin;
    if (crossJoin) {
      // Cross-joined: the row's combination gives the value; otherwise one draw per core row. Missing cells per row.
      const digit = crossJoin.digits.get(this.name);
      for (let i = 0; i < count; i++) {
        const row = rows === undefined ? start + i : rows[i]!;
        const k = isMissing(cellHash(this.key, row), column.missing) ? -1 : digit ? joinedIndex(digit, crossJoin.size, row) : choice.pick(unit(cellHash(this.key, Math.floor(row / crossJoin.size))));
        picked[i] = k;
        if (raw) raw[i] = k < 0 ? null : values[k]!;
      }
      return;
    }
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, rows === undefined ? start + i : rows[i]!);
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

export class NumericGenerator extends BaseGenerator {
  private readonly values: Float64Array;
  private readonly precision: number | undefined;
  private readonly sources: SourceFactors[];
  private readonly bounds: ReturnType<typeof constraintsOn>;
  private readonly range: { low: number; high: number };

  constructor(readonly column: ColumnOf<'numeric'>, context: GeneratorContext) {
    super(column.name, context);
    this.values = new Float64Array(context.blockSize);
    this.precision = column.kind === 'integer' ? 0 : column.precision;
    this.sources = conditionalFactors(column, context.table);
    this.bounds = constraintsOn(column.name, context.table.constraints);
    this.range = column.distribution === 'weighted' ? weightedRange(column, context.table) : { low: 0, high: 0 };
    this.dependsOn.push(...this.sources.map((source) => source.column), ...this.bounds.flatMap((bound) => (bound.column ? [bound.column] : [])));
  }

  /** A `sum` column's scale and rounding boundary, from a pass over the whole table (generate.ts planSums). */
  tablePlan?: TablePlan;

  /** A weighted value before a `sum` column's scaling: the row's product of weights times the dispersion noise. */
  private unscaled(hash: number, factor: number): number {
    if (this.column.distribution === 'normal') return this.column.mean! * factor + this.column.sd! * standardNormal(hash, nextHash(hash, 1));
    const d = this.column.dispersion ?? 0;
    return d > 0 ? factor * (1 - d + 2 * d * unit(hash)) : factor;
  }

  /** Every row's unscaled value, missing or not (exhibit scales before it adds missing values), for planSums. */
  unscaledValues(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>, out: Float64Array): void {
    const sources = this.sources.map((source) => columns.get(source.column)!.raw!);
    for (let i = 0; i < count; i++) out[i] = this.unscaled(cellHash(this.key, start + i), this.sources.length > 0 ? this.factorOf(i, sources) : 1);
  }

  /** The column needs a pass over the whole table first (planSums): a `sum`, or a `rescale` to min..max. */
  get needsTablePass(): boolean {
    return this.column.sum !== undefined || this.column.rescale === true;
  }

  /** The columns a `sum` column's unscaled values read (its weights' sources, not its constraints). */
  get weightSources(): string[] {
    return this.sources.map((source) => source.column);
  }

  /** `factor`: the row's product of weights (weighted) or 1 + sum of mean shifts (normal). */
  private draw(hash: number, factor: number, row: number): number {
    if (this.column.rescale) {
      const { low, high } = this.tablePlan! as Required<TablePlan>;
      const { min, max } = this.column;
      const x = this.unscaled(hash, factor);
      if (!(high > low)) return min;
      if (this.column.kind !== 'integer') return min + ((x - low) / (high - low)) * (max - min);
      // exhibit's integer range scaling: equal-width bins over low..high, one per integer of floor(min)..ceil(max).
      const bins = Math.ceil(max) - Math.floor(min) + 1;
      const bin = x <= low ? 0 : Math.min(bins - 1, Math.ceil(((x - low) / (high - low)) * bins) - 1);
      return Math.floor(min) + bin;
    }
    if (this.column.sum !== undefined) {
      const { scale, boundary } = this.tablePlan!;
      const value = this.unscaled(hash, factor) * scale;
      // exhibit's rounding to a total: up (to at least 1) in the first `boundary` rows, down after.
      if (this.column.kind === 'integer') return row < boundary ? Math.max(Math.ceil(value), 1) : Math.floor(value);
      return value;
    }
    const { min, max, kind, distribution } = this.column;
    if (distribution === 'uniform') {
      if (kind === 'integer') {
        const low = Math.ceil(min);
        return low + below(hash, Math.floor(max) - low + 1);
      }
      return min + unit(hash) * (max - min);
    }
    if (distribution === 'weighted') {
      const d = this.column.dispersion ?? 0;
      const raw = d > 0 ? factor * (1 - d + 2 * d * unit(hash)) : factor;
      const { low, high } = this.range;
      let value = this.column.mean !== undefined ? this.column.mean * raw : high > low ? min + ((raw - low) / (high - low)) * (max - min) : min;
      if (kind === 'integer') value = Math.round(value);
      return Math.min(max, Math.max(min, value));
    }
    const mean = factor === 1 ? this.column.mean! : this.column.mean! * factor;
    const sd = this.column.sd!;
    if (this.column.outOfRange === 'clamp') {
      // As BIT's generator: one draw, set to the bound it passed.
      const value = mean + sd * standardNormal(hash, nextHash(hash, 1));
      if (kind !== 'integer') return Math.min(max, Math.max(min, value));
      return Math.min(Math.floor(max), Math.max(Math.ceil(min), Math.round(value)));
    }
    // Normal, truncated to [min, max] by redrawing (bounded; the last resort is clamping).
    for (let attempt = 0; attempt < 64; attempt++) {
      const a = attempt === 0 ? hash : nextHash(hash, 2 * attempt);
      let value = mean + sd * standardNormal(a, nextHash(hash, 2 * attempt + 1));
      if (kind === 'integer') value = Math.round(value);
      if (value >= min && value <= max) return value;
    }
    return Math.min(max, Math.max(min, kind === 'integer' ? Math.round(mean) : mean));
  }

  private factorOf(row: number, sources: ReadonlyArray<Value[]>): number {
    const normal = this.column.distribution === 'normal';
    let factor = 1;
    for (let s = 0; s < this.sources.length; s++) {
      const value = sources[s]![row];
      if (value === null || value === undefined) continue;
      const f = this.sources[s]!.byValue.get(String(value));
      if (f === undefined) continue;
      if (normal) factor += f;
      else factor *= f;
    }
    return factor;
  }

  /** Clamps a value to the table's constraints on this column (`los >= stays`: los becomes stays when below it). */
  private constrain(value: number, row: number, others: ReadonlyArray<Value[] | undefined>, hash: number): number {
    const integer = this.column.kind === 'integer';
    const step = integer ? 1 : 0;
    const dispersion = this.column.dispersion ?? 0;
    let result = value;
    this.bounds.forEach((bound, b) => {
      const limit = bound.value ?? (others[b]?.[row] as number | null | undefined);
      if (typeof limit !== 'number') return;
      const spread = limit * dispersion;
      if (spread > 0) {
        // exhibit: a value that breaks the constraint is drawn again within dispersion × the limit on its allowed side.
        const u = unit(nextHash(hash, 7 + b));
        if ((bound.op === '>=' && result < limit) || (bound.op === '>' && result <= limit)) {
          const drawn = limit + (1 - u) * spread;
          result = integer ? Math.ceil(drawn) : drawn;
        } else if ((bound.op === '<=' && result > limit) || (bound.op === '<' && result >= limit)) {
          const low = Math.max(0, limit - spread);
          const drawn = low + u * (limit - low);
          result = integer ? Math.floor(drawn) : drawn;
        }
        return;
      }
      if (bound.op === '>=' && result < limit) result = limit;
      else if (bound.op === '>' && result <= limit) result = limit + step;
      else if (bound.op === '<=' && result > limit) result = limit;
      else if (bound.op === '<' && result >= limit) result = limit - step;
    });
    return result;
  }

  compute(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void {
    const { values, raw, column, precision } = this;
    const scale = precision === undefined ? 1 : 10 ** precision;
    const conditional = this.sources.length > 0;
    const sources = conditional ? this.sources.map((source) => columns.get(source.column)!.raw!) : [];
    const others = this.bounds.map((bound) => (bound.column ? columns.get(bound.column)!.raw! : undefined));
    for (let i = 0; i < count; i++) {
      const row = rows === undefined ? start + i : rows[i]!;
      const hash = cellHash(this.key, row);
      if (isMissing(hash, column.missing)) {
        values[i] = NaN;
        if (raw) raw[i] = null;
        continue;
      }
      let value = this.draw(hash, conditional ? this.factorOf(i, sources) : 1, row);
      if (others.length > 0) value = this.constrain(value, i, others, hash);
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

const DATE_CACHE_LIMIT = 200_000;

class DateGenerator extends BaseGenerator {
  private readonly candidates: DateCandidates;
  private readonly cached?: Buffer[];
  private readonly texts?: string[];
  private readonly picked: Float64Array;

  constructor(private readonly column: ColumnOf<'date'>, context: GeneratorContext) {
    super(column.name, context);
    this.candidates = dateCandidates(column);
    this.picked = new Float64Array(context.blockSize);
    if (this.candidates.count <= DATE_CACHE_LIMIT) {
      this.texts = Array.from({ length: this.candidates.count }, (_, i) => this.text(this.candidates.at(i)));
      this.cached = this.texts.map((text) => encode(escapeCell(text, context.delimiter)));
    }
  }

  private text(time: number): string {
    return formatDate(time, this.column.format, this.column.datetime || this.column.frequency === 'H');
  }

  compute(start: number, count: number, _columns?: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void {
    const { picked, raw, candidates } = this;
    const crossJoin = this.context.crossJoin;
    const digit = crossJoin?.digits.get(this.name);
    for (let i = 0; i < count; i++) {
      const row = rows === undefined ? start + i : rows[i]!;
      const hash = cellHash(this.key, row);
      let index: number;
      if (isMissing(hash, this.column.missing) || candidates.count === 0) index = -1;
      else if (!crossJoin) index = below(hash, candidates.count);
      else index = digit ? joinedIndex(digit, crossJoin.size, row) : below(cellHash(this.key, Math.floor(row / crossJoin.size)), candidates.count);
      picked[i] = index;
      if (raw) raw[i] = index < 0 ? null : (this.texts?.[index] ?? this.text(candidates.at(index)));
    }
  }

  /** Candidates ascend in time, so the candidate index orders dates whatever their format. */
  orderKey(index: number): number {
    const picked = this.picked[index]!;
    return picked < 0 ? NaN : picked;
  }

  write(index: number, out: ByteWriter): void {
    const picked = this.picked[index]!;
    if (picked < 0) return;
    if (this.cached) out.bytes(this.cached[picked]!);
    else writeTextCell(this.text(this.candidates.at(picked)), out, this.context.delimiter);
  }
}

export class IdGenerator extends BaseGenerator implements PrimaryKey {
  private readonly id: IdText;
  private readonly permutation?: Permutation;
  private readonly indices: Float64Array;
  readonly rows: number;
  /** Ids repeating exactly (`frequencies`): the layout of the id list, and the shuffle of rows over it. */
  private readonly classes?: ReturnType<typeof idsOfFrequencies>['classes'];
  private readonly shuffle?: Permutation;

  constructor(private readonly column: ColumnOf<'id'>, context: GeneratorContext) {
    super(column.name, context, keyOf(column.seed ?? context.spec.seed, context.table.name, column.name));
    this.id = new IdText(column.format, this.key, context.delimiter);
    this.rows = context.table.rows;
    this.indices = new Float64Array(context.blockSize);
    // Primary keys (and repeated ids): a permutation of the row (or id) numbers into the id space, so ids are distinct.
    if ((column.primaryKey || column.frequencies) && column.format.kind !== 'row-number') {
      this.permutation = new Permutation(this.id.size, keyOf(this.key, 'permutation'));
    }
    if (column.frequencies && this.rows > 0) {
      this.classes = idsOfFrequencies(column.frequencies, this.rows).classes;
      this.shuffle = new Permutation(this.rows, keyOf(this.key, 'shuffle'));
    }
  }

  /** exhibit's list of repeated ids (each frequency's ids, each that many times), read at the row's shuffled position. */
  private repeatedIndex(row: number): number {
    if (isMissing(cellHash(this.key, row), this.column.missing)) return -1;
    const position = this.shuffle!.apply(row);
    const classes = this.classes!;
    let c = 0;
    while (c < classes.length - 1 && position >= classes[c]!.rowEnd) c++;
    const { rowStart, idStart, frequency } = classes[c]!;
    const member = idStart + Math.floor((position - rowStart) / frequency);
    return this.permutation ? this.permutation.apply(member) : member;
  }

  private indexOfRow(row: number): number {
    if (this.classes) return this.repeatedIndex(row);
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

  compute(start: number, count: number, _columns?: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void {
    const { indices, raw } = this;
    for (let i = 0; i < count; i++) {
      const index = this.indexOfRow(rows === undefined ? start + i : rows[i]!);
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

  compute(start: number, count: number, _columns?: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void {
    const { targetRows, raw, target } = this;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, rows === undefined ? start + i : rows[i]!);
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

  compute(start: number, count: number, _columns?: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void {
    const { members, raw, groupSize } = this;
    for (let i = 0; i < count; i++) {
      const hash = cellHash(this.key, rows === undefined ? start + i : rows[i]!);
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

  compute(start: number, count: number, columns: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void {
    const source = columns.get(this.column.source)!.raw!;
    const { picked, raw } = this;
    const crossJoin = this.context.crossJoin;
    for (let i = 0; i < count; i++) {
      const sourceValue = source[i];
      const choice = sourceValue === null || sourceValue === undefined ? undefined : this.choices.get(String(sourceValue));
      const row = rows === undefined ? start + i : rows[i]!;
      const hash = cellHash(this.key, row);
      if (!choice || isMissing(hash, this.column.missing)) {
        picked[i] = undefined;
        if (raw) raw[i] = null;
        continue;
      }
      // With a cross join, one draw per core row (exhibit joins a paired column's value with its source's).
      const draw = crossJoin ? cellHash(this.key, Math.floor(row / crossJoin.size)) : hash;
      const k = choice.weights ? choice.weights.pick(unit(draw)) : below(draw, choice.values.length);
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
  private readonly parts: Array<{ alphabet: string; codes: Uint16Array; min: number; max: number; weights?: WeightedChoice }>;
  /** ASCII and never needing quotes: written as bytes directly. */
  private readonly direct: boolean;
  private readonly codes: number[] = [];
  /** The block's rows when not consecutive (write draws its text again rather than keeping it). */
  private rows?: Float64Array;

  constructor(private readonly column: ColumnOf<'text'>, context: GeneratorContext) {
    super(column.name, context);
    const parts: Array<{ alphabet: string; min: number; max: number; weights?: WeightedChoice }> = column.characters
      ? column.characters.map((position) => {
          const entries = Object.entries(position).filter(([, weight]) => weight > 0);
          return { alphabet: entries.map(([char]) => char).join(''), min: 1, max: 1, weights: new WeightedChoice(entries.map(([, weight]) => weight)) };
        })
      : column.pattern !== undefined
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
        codes.push(part.codes[size === 1 ? 0 : part.weights ? part.weights.pick(unit(state)) : below(state, size)]!);
      }
    }
    return true;
  }

  compute(start: number, count: number, _columns?: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void {
    this.start = start;
    this.rows = rows;
    const raw = this.raw;
    if (!raw) return;
    for (let i = 0; i < count; i++) raw[i] = this.draw(rows === undefined ? start + i : rows[i]!) ? String.fromCharCode(...this.codes) : null;
  }

  write(index: number, out: ByteWriter): void {
    if (!this.draw(this.rows === undefined ? this.start + index : this.rows[index]!)) return;
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

/**
 * A column whose values were decided for the whole table beforehand (by custom constraints): it hands
 * them out block by block and writes them as the column's own generator would.
 */
export class FixedColumn implements ColumnGenerator {
  readonly name: string;
  readonly dependsOn: string[] = [];
  raw: Value[];
  private readonly decimals: number | undefined;

  constructor(
    column: ColumnSpec,
    private readonly values: readonly Value[],
    private readonly context: GeneratorContext,
  ) {
    this.name = column.name;
    this.raw = new Array<Value>(context.blockSize).fill(null);
    this.decimals = column.type === 'numeric' ? (column.kind === 'integer' ? 0 : column.precision) : column.type === 'derived' ? column.precision : undefined;
  }

  compute(start: number, count: number, _columns?: ReadonlyMap<string, ColumnGenerator>, rows?: Float64Array): void {
    const raw = this.raw;
    for (let i = 0; i < count; i++) raw[i] = this.values[rows === undefined ? start + i : rows[i]!] ?? null;
  }

  write(index: number, out: ByteWriter): void {
    const value = this.raw[index];
    if (value === null || value === undefined) return;
    if (typeof value !== 'number') writeTextCell(String(value), out, this.context.delimiter);
    else if (this.decimals === undefined) out.ascii(String(value));
    else out.fixed(value, this.decimals);
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
