/**
 * Custom constraints (exhibit's custom_constraints): whole-table rules applied in order to the drawn
 * values of a table. Each picks rows (`filter`), groups them (`partition`) and applies actions to target
 * columns within each group: sort, make the same, number in sequence, and so on, as exhibit's
 * ConstraintHandler does. They work on whole columns held in memory, so such a table is generated in one
 * piece (generate.ts); the random draws some actions make are keyed by (seed, table, constraint, group),
 * so the output is still a pure function of the spec.
 *
 * Where exhibit's behaviour is an accident of pandas, this does the evident intent instead: a partition
 * groups the filtered rows (exhibit sorts or copies over the whole partition and then writes back only
 * the filtered rows), and rows missing a partition value are left alone (pandas would blank them).
 */
import { compileExpression, type Value } from './expression';
import { keyOf, nextHash, unit } from './random';
import type { ColumnOf, ColumnSpec, CustomAction, SynthSpec, TableSpec } from './spec';

/** A column's values over the whole table, and for dates a number that orders them whatever their format. */
export interface ColumnValues {
  values: Value[];
  order?: Float64Array;
}

type Constraint = NonNullable<TableSpec['customConstraints']>[number];

/** Orders values as pandas sorts them: numbers (or order keys) by value, text by code point, missing last. */
function compareCells(a: Value, b: Value, keyA: number, keyB: number): number {
  const missingA = a === null || keyA !== keyA;
  const missingB = b === null || keyB !== keyB;
  if (missingA || missingB) return missingA === missingB ? 0 : missingA ? 1 : -1;
  if (keyA !== keyB) return keyA < keyB ? -1 : 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  const textA = String(a);
  const textB = String(b);
  return textA < textB ? -1 : textA > textB ? 1 : 0;
}

/** numpy's default percentile (linear interpolation) of sorted values. */
function percentile(sorted: Float64Array | number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.min(sorted.length - 1, low + 1);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

function isMissingCell(value: Value, key: number): boolean {
  return value === null || key !== key;
}

function compareAt(before: Value[], keys: Float64Array, sign: 1 | -1, i: number, j: number): number {
  const missingI = isMissingCell(before[i]!, keys[i]!);
  const missingJ = isMissingCell(before[j]!, keys[j]!);
  if (missingI || missingJ) return missingI === missingJ ? i - j : missingI ? 1 : -1;
  return sign * compareCells(before[i]!, before[j]!, keys[i]!, keys[j]!) || i - j;
}

/** The group's positions in sorted order (stable; missing values last in either direction, as pandas puts them). */
function sortedIndices(before: Value[], keys: Float64Array, sign: 1 | -1): number[] {
  const indices = Array.from(before.keys());
  if (indices.length > 16) return indices.sort((i, j) => compareAt(before, keys, sign, i, j));
  // Insertion sort: partitions are mostly a handful of rows.
  for (let a = 1; a < indices.length; a++) {
    const current = indices[a]!;
    let b = a - 1;
    while (b >= 0 && compareAt(before, keys, sign, indices[b]!, current) > 0) {
      indices[b + 1] = indices[b]!;
      b--;
    }
    indices[b + 1] = current;
  }
  return indices;
}

/** Sets `row` to the value (and order key) the group's j-th row had. */
function take(column: ColumnValues, row: number, before: Value[], keys: Float64Array, j: number): void {
  column.values[row] = before[j]!;
  if (column.order) column.order[row] = keys[j]!;
}

/** Sets `row` to a new value (ordered by its text: such values are categories, numbers or given text). */
function put(column: ColumnValues, row: number, cell: Value): void {
  column.values[row] = cell;
  if (column.order) column.order[row] = cell === null ? NaN : 0;
}

class ConstraintRun {
  private readonly columnsByName: Map<string, ColumnSpec>;

  constructor(
    private readonly spec: SynthSpec,
    private readonly table: TableSpec,
    private readonly data: Map<string, ColumnValues>,
  ) {
    this.columnsByName = new Map(table.columns.map((column) => [column.name, column]));
  }

  private column(name: string): ColumnValues {
    const values = this.data.get(name);
    if (!values) throw new Error(`custom constraints: no values of column "${name}" were computed`);
    return values;
  }

  /** The rows the filter keeps, ascending. */
  private filtered(constraint: Constraint): number[] {
    const rows: number[] = [];
    if (constraint.filter === undefined) {
      for (let row = 0; row < this.table.rows; row++) rows.push(row);
      return rows;
    }
    const expression = compileExpression(constraint.filter);
    const sources = new Map(expression.columns.map((name) => [name, this.column(name).values]));
    let row = 0;
    const lookup = (name: string): Value => sources.get(name)![row] ?? null;
    for (row = 0; row < this.table.rows; row++) if (expression.evaluate(lookup) === true) rows.push(row);
    return rows;
  }

  /** Rows grouped by their partition values, groups in order of first appearance; one group without a partition. */
  private groups(rows: number[], partition: string[] | undefined): number[][] {
    if (!partition) return [rows];
    const columns = partition.map((name) => this.column(name).values);
    if (columns.length === 1) {
      // One partition column: its values are the keys (a number and its text stay apart, as in pandas).
      const values = columns[0]!;
      const byValue = new Map<Value, number[]>();
      for (const row of rows) {
        const value = values[row] ?? null;
        if (value === null) continue;
        const group = byValue.get(value);
        if (group) group.push(row);
        else byValue.set(value, [row]);
      }
      return [...byValue.values()];
    }
    const groups = new Map<string, number[]>();
    for (const row of rows) {
      let key = '';
      let complete = true;
      for (const values of columns) {
        const value = values[row] ?? null;
        if (value === null) {
          complete = false;
          break;
        }
        key += `${typeof value === 'number' ? 'n' : 's'}${String(value)}\u0000`;
      }
      if (!complete) continue;
      const group = groups.get(key);
      if (group) group.push(row);
      else groups.set(key, [row]);
    }
    return [...groups.values()];
  }

  run(): Set<string> {
    const targeted = new Set<string>();
    (this.table.customConstraints ?? []).forEach((constraint, k) => {
      const rows = this.filtered(constraint);
      if (rows.length === 0) return;
      const groups = this.groups(rows, constraint.partition);
      constraint.targets.forEach((target, t) => {
        for (const name of target.columns) {
          targeted.add(name);
          const random = keyOf(this.spec.seed, this.table.name, 'custom-constraint', k, t, name);
          const action = target.action;
          if (action === 'make-outlier') this.makeOutlier(name, rows, constraint.partition);
          else groups.forEach((group, g) => this.apply(action, name, group, nextHash(random, g), target.value));
        }
      });
    });
    return targeted;
  }

  private apply(action: Exclude<CustomAction, 'make-outlier'>, name: string, group: number[], random: number, value: string | number | undefined): void {
    const column = this.column(name);
    const n = group.length;
    const before = new Array<Value>(n);
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const row = group[i]!;
      before[i] = column.values[row] ?? null;
      keys[i] = column.order ? column.order[row]! : 0;
    }
    switch (action) {
      case 'sort-ascending':
      case 'sort-descending': {
        const sorted = sortedIndices(before, keys, action === 'sort-ascending' ? 1 : -1);
        for (let i = 0; i < n; i++) take(column, group[i]!, before, keys, sorted[i]!);
        return;
      }
      case 'make-same':
        // The group's first row (in row order) sets the value: drawn with the column's probabilities.
        for (let i = 1; i < n; i++) take(column, group[i]!, before, keys, 0);
        return;
      case 'make-almost-same': {
        // exhibit: the smallest value in 95 % of the rows, one other value of the group (drawn once) in the rest.
        const sorted = sortedIndices(before, keys, 1);
        const uniques: number[] = [];
        for (const i of sorted) {
          if (isMissingCell(before[i]!, keys[i]!)) break;
          const last = uniques[uniques.length - 1];
          if (last === undefined || compareCells(before[i]!, before[last]!, keys[i]!, keys[last]!) !== 0) uniques.push(i);
        }
        if (uniques.length === 0) return;
        const same = uniques[0]!;
        const other = uniques.length === 1 ? same : uniques[1 + Math.floor(unit(random) * (uniques.length - 1))]!;
        for (let i = 0; i < n; i++) take(column, group[i]!, before, keys, unit(nextHash(random, i + 1)) < 0.05 ? other : same);
        return;
      }
      case 'make-distinct': {
        // A value already seen in the group is blanked, as exhibit does (so the other values keep their probabilities).
        const seen = new Set<string>();
        for (let i = 0; i < n; i++) {
          const cell = before[i]!;
          if (cell === null) continue;
          const key = `${typeof cell}${String(cell)}`;
          if (seen.has(key)) put(column, group[i]!, null);
          else seen.add(key);
        }
        return;
      }
      case 'generate-as-sequence':
      case 'generate-as-repeating-sequence': {
        const sequence = this.sequence(this.columnsByName.get(name) as ColumnOf<'categorical'>, n, action === 'generate-as-repeating-sequence', random);
        for (let i = 0; i < n; i++) put(column, group[i]!, sequence[i]!);
        return;
      }
      case 'make-null':
        for (let i = 0; i < n; i++) put(column, group[i]!, null);
        return;
      case 'assign-value': {
        const spec = this.columnsByName.get(name)!;
        const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
        const cell: Value = spec.type === 'numeric' && Number.isFinite(number) ? number : (value ?? null);
        for (let i = 0; i < n; i++) put(column, group[i]!, cell);
        return;
      }
    }
  }

  /**
   * exhibit's generate_as_sequence: the values in the spec's order. Repeating: the order again and again.
   * Equal probabilities: the order once, then blanks. Otherwise a walk: the first value always, each next
   * one with its probability (else back to the first), the walk's values then sorted into the order.
   */
  private sequence(column: ColumnOf<'categorical'>, n: number, repeating: boolean, random: number): Value[] {
    const ordered = Object.keys(column.values);
    const probabilities = Object.values(column.values);
    const m = ordered.length;
    const result = new Array<Value>(n).fill(null);
    if (m === 0) return result;
    const first = probabilities[0]!;
    const equal = probabilities.every((p) => Math.abs(p - first) <= 1e-9 * Math.max(1, first));
    if (repeating || equal) {
      for (let i = 0; i < (repeating ? n : Math.min(n, m)); i++) result[i] = ordered[i % m]!;
      return result;
    }
    const picked: number[] = [];
    let pointer = 0;
    for (let draw = 0; picked.length < n; draw++) {
      if (pointer === 0 || unit(nextHash(random, draw)) < probabilities[pointer]!) {
        picked.push(pointer);
        pointer = pointer + 1 < m ? pointer + 1 : 0;
      } else pointer = 0;
    }
    return picked.sort((a, b) => a - b).map((index) => ordered[index]!);
  }

  /**
   * exhibit's make_outlier: a filtered value becomes an outlier of its partition (or of the whole column)
   * by the box-plot rule, 3 IQR beyond the quartiles (an IQR of 0: the value × 1.3 or × 0.7); then the
   * column is scaled back to its range or total, as exhibit rescales it.
   */
  private makeOutlier(name: string, filtered: number[], partition: string[] | undefined): void {
    const values = this.column(name).values;
    const present = (row: number): boolean => typeof values[row] === 'number';
    const all: number[] = [];
    for (let row = 0; row < this.table.rows; row++) if (present(row)) all.push(row);
    const targets = new Set(filtered.filter(present));
    const result = new Map<number, number>();
    const quartiles = (rows: number[]): [number, number, number] => {
      const sorted = Float64Array.from(rows, (row) => values[row] as number).sort();
      return [percentile(sorted, 0.25), percentile(sorted, 0.5), percentile(sorted, 0.75)];
    };
    // Quartiles of the whole partition (every row of it), as exhibit compares a value with the rest of its group.
    for (const group of partition ? this.groups(all, partition) : [all]) {
      if (!group.some((row) => targets.has(row))) continue;
      const [q25, q50, q75] = quartiles(group);
      const iqr = q75 - q25;
      for (const row of group) {
        if (!targets.has(row)) continue;
        const value = values[row] as number;
        // exhibit: within a partition the direction follows the value's parity; over the whole column, its side of the median.
        const up = partition ? value % 2 === 0 : value >= q50;
        if (iqr === 0) result.set(row, value % 2 === 0 ? value * 1.3 : value * 0.7);
        else result.set(row, up ? q75 + iqr * 3 + value : q25 - iqr * 3 - value);
      }
    }
    for (const [row, value] of result) values[row] = value;
    this.rescale(this.columnsByName.get(name) as ColumnOf<'numeric'>, values);
  }

  /** Scales a numeric column back to its total (`sum`) or onto min..max, as exhibit's scale_continuous_column does, then rounds it. */
  private rescale(column: ColumnOf<'numeric'>, values: Value[]): void {
    const rows: number[] = [];
    for (let row = 0; row < values.length; row++) if (typeof values[row] === 'number') rows.push(row);
    if (rows.length === 0) return;
    const integer = column.kind === 'integer';
    const decimals = integer ? 0 : column.precision;
    const round = (value: number): number => (decimals === undefined ? value : Math.round(value * 10 ** decimals) / 10 ** decimals);
    if (column.sum !== undefined) {
      const total = rows.reduce((sum, row) => sum + (values[row] as number), 0);
      const scale = total === 0 ? 0 : column.sum / total;
      for (const row of rows) values[row] = round((values[row] as number) * scale);
      return;
    }
    const bounded = Math.abs(column.min) < Number.MAX_SAFE_INTEGER && Math.abs(column.max) < Number.MAX_SAFE_INTEGER;
    if (!bounded) return;
    let low = Infinity;
    let high = -Infinity;
    for (const row of rows) {
      const value = values[row] as number;
      if (value < low) low = value;
      if (value > high) high = value;
    }
    for (const row of rows) {
      const value = values[row] as number;
      if (!(high > low)) values[row] = column.min;
      else if (!integer) values[row] = round(column.min + ((value - low) / (high - low)) * (column.max - column.min));
      else {
        // Equal-width bins, one per integer of floor(min)..ceil(max), as exhibit's integer range scaling.
        const bins = Math.ceil(column.max) - Math.floor(column.min) + 1;
        const bin = value <= low ? 0 : Math.min(bins - 1, Math.ceil(((value - low) / (high - low)) * bins) - 1);
        values[row] = Math.floor(column.min) + bin;
      }
    }
  }
}

/**
 * Applies a table's custom constraints, in order, to its drawn values (changed in place). Returns the
 * columns they changed, whose values then replace the drawn ones.
 */
export function applyCustomConstraints(spec: SynthSpec, table: TableSpec, data: Map<string, ColumnValues>): Set<string> {
  return new ConstraintRun(spec, table, data).run();
}

/** The columns a table's custom constraints read or change. */
export function constraintColumns(table: TableSpec): Set<string> {
  const names = new Set<string>();
  for (const constraint of table.customConstraints ?? []) {
    if (constraint.filter !== undefined) compileExpression(constraint.filter).columns.forEach((name) => names.add(name));
    constraint.partition?.forEach((name) => names.add(name));
    constraint.targets.forEach((target) => target.columns.forEach((name) => names.add(name)));
  }
  return names;
}
