/**
 * QA's accumulators: everything QA needs from a dataset, added up in one pass over its rows. Per numeric
 * column a shifted sum and sum of squares, min, max and missing count; per categorical column the count
 * of each value; per pair of columns the sums its test needs. The p-values QA reports are computed from
 * these (and the tests check these against SciPy), never from the raw data.
 */
import { anovaFromGroups, chiSquareIndependence, pearsonFromSums, type TestResult } from './statistics';

export class NumericProfile {
  n = 0;
  missing = 0;
  private shift = NaN;
  private sum = 0;
  private sumSquares = 0;
  min = Infinity;
  max = -Infinity;

  add(value: number): void {
    if (this.n === 0) this.shift = value;
    const d = value - this.shift;
    this.n += 1;
    this.sum += d;
    this.sumSquares += d * d;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }

  mean(): number | null {
    return this.n === 0 ? null : this.shift + this.sum / this.n;
  }

  sd(): number | null {
    return this.n < 2 ? null : Math.sqrt(Math.max(0, (this.sumSquares - (this.sum * this.sum) / this.n) / (this.n - 1)));
  }
}

/**
 * Pair statistics kept as flat typed arrays (one slot per pair, or per pair and category code): the
 * per-row loop touches no objects or maps, which is what keeps QA of 1M × 20 within seconds.
 */
export class NumericPairs {
  readonly n: Float64Array;
  readonly sx: Float64Array;
  readonly sy: Float64Array;
  readonly sxx: Float64Array;
  readonly syy: Float64Array;
  readonly sxy: Float64Array;

  constructor(readonly first: Int32Array, readonly second: Int32Array) {
    const size = first.length;
    [this.n, this.sx, this.sy, this.sxx, this.syy, this.sxy] = Array.from({ length: 6 }, () => new Float64Array(size)) as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
  }

  /** `shifted`: each column's value less the column's first value (for accuracy), NaN when missing. */
  add(shifted: Float64Array): void {
    const { first, second, n, sx, sy, sxx, syy, sxy } = this;
    for (let p = 0; p < first.length; p++) {
      const dx = shifted[first[p]!]!;
      const dy = shifted[second[p]!]!;
      if (dx !== dx || dy !== dy) continue; // NaN: missing
      n[p] = n[p]! + 1;
      sx[p] = sx[p]! + dx;
      sy[p] = sy[p]! + dy;
      sxx[p] = sxx[p]! + dx * dx;
      syy[p] = syy[p]! + dy * dy;
      sxy[p] = sxy[p]! + dx * dy;
    }
  }

  result(p: number): TestResult {
    return pearsonFromSums(this.n[p]!, this.sx[p]!, this.sy[p]!, this.sxx[p]!, this.syy[p]!, this.sxy[p]!);
  }
}

/** Category codes grow as values appear; tables are re-laid out when a code passes the capacity. */
export class CategoricalPairs {
  private capacity = 16;
  private counts: Float64Array;

  constructor(readonly first: Int32Array, readonly second: Int32Array) {
    this.counts = new Float64Array(first.length * this.capacity * this.capacity);
  }

  private grow(needed: number): void {
    let capacity = this.capacity;
    while (capacity <= needed) capacity *= 2;
    const grown = new Float64Array(this.first.length * capacity * capacity);
    const old = this.capacity;
    for (let p = 0; p < this.first.length; p++) {
      for (let a = 0; a < old; a++) for (let b = 0; b < old; b++) grown[p * capacity * capacity + a * capacity + b] = this.counts[p * old * old + a * old + b]!;
    }
    this.counts = grown;
    this.capacity = capacity;
  }

  add(codes: Int32Array, largestCode: number): void {
    if (largestCode >= this.capacity) this.grow(largestCode);
    const { first, second, counts, capacity } = this;
    const square = capacity * capacity;
    for (let p = 0; p < first.length; p++) {
      const a = codes[first[p]!]!;
      const b = codes[second[p]!]!;
      if (a < 0 || b < 0) continue;
      counts[p * square + a * capacity + b] = counts[p * square + a * capacity + b]! + 1;
    }
  }

  result(p: number): TestResult {
    const { capacity, counts } = this;
    const table = Array.from({ length: capacity }, (_, a) => Array.from({ length: capacity }, (_, b) => counts[p * capacity * capacity + a * capacity + b]!));
    return chiSquareIndependence(table);
  }
}

export class MixedPairs {
  private capacity = 16;
  private n: Float64Array;
  private sum: Float64Array;
  private sumSquares: Float64Array;

  constructor(readonly categorical: Int32Array, readonly numeric: Int32Array) {
    [this.n, this.sum, this.sumSquares] = Array.from({ length: 3 }, () => new Float64Array(categorical.length * this.capacity)) as [Float64Array, Float64Array, Float64Array];
  }

  private grow(needed: number): void {
    let capacity = this.capacity;
    while (capacity <= needed) capacity *= 2;
    const relayout = (old: Float64Array): Float64Array => {
      const grown = new Float64Array(this.categorical.length * capacity);
      for (let p = 0; p < this.categorical.length; p++) for (let g = 0; g < this.capacity; g++) grown[p * capacity + g] = old[p * this.capacity + g]!;
      return grown;
    };
    [this.n, this.sum, this.sumSquares] = [relayout(this.n), relayout(this.sum), relayout(this.sumSquares)];
    this.capacity = capacity;
  }

  add(codes: Int32Array, shifted: Float64Array, largestCode: number): void {
    if (largestCode >= this.capacity) this.grow(largestCode);
    const { categorical, numeric, n, sum, sumSquares, capacity } = this;
    for (let p = 0; p < categorical.length; p++) {
      const group = codes[categorical[p]!]!;
      const d = shifted[numeric[p]!]!;
      if (group < 0 || d !== d) continue;
      const slot = p * capacity + group;
      n[slot] = n[slot]! + 1;
      sum[slot] = sum[slot]! + d;
      sumSquares[slot] = sumSquares[slot]! + d * d;
    }
  }

  result(p: number): TestResult {
    const { capacity } = this;
    return anovaFromGroups(
      Array.from({ length: capacity }, (_, g) => ({ n: this.n[p * capacity + g]!, sum: this.sum[p * capacity + g]!, sumSquares: this.sumSquares[p * capacity + g]! })),
    );
  }
}

export function allPairs(count: number): [Int32Array, Int32Array] {
  const first: number[] = [];
  const second: number[] = [];
  for (let i = 0; i < count; i++) for (let j = i + 1; j < count; j++) {
    first.push(i);
    second.push(j);
  }
  return [Int32Array.from(first), Int32Array.from(second)];
}

/**
 * All of a dataset's accumulators. Rows arrive as text cells (as read from the CSV; '' is missing),
 * `numericAt`/`categoricalAt` giving the position of each compared column in a record.
 */
export class DatasetAccumulator {
  rows = 0;
  readonly numericProfiles: NumericProfile[];
  readonly categoryCodes: Array<Map<string, number>>;
  readonly categoryCounts: number[][];
  readonly numericPairs: NumericPairs;
  readonly categoricalPairs: CategoricalPairs;
  readonly mixedPairs: MixedPairs;
  private largestCode = 0;
  private readonly numericValues: Float64Array;
  /** Each column's values less its first value: sums of squares then stay accurate. */
  private readonly columnShift: Float64Array;
  private readonly codes: Int32Array;

  constructor(
    private readonly numericAt: readonly number[],
    private readonly categoricalAt: readonly number[],
  ) {
    const numeric = numericAt.length;
    const categorical = categoricalAt.length;
    this.numericProfiles = numericAt.map(() => new NumericProfile());
    this.categoryCodes = categoricalAt.map(() => new Map<string, number>());
    this.categoryCounts = categoricalAt.map(() => [] as number[]);
    this.numericPairs = new NumericPairs(...allPairs(numeric));
    this.categoricalPairs = new CategoricalPairs(...allPairs(categorical));
    this.mixedPairs = new MixedPairs(
      Int32Array.from(categoricalAt.flatMap((_, c) => numericAt.map(() => c))),
      Int32Array.from(categoricalAt.flatMap(() => numericAt.map((_, n) => n))),
    );
    this.numericValues = new Float64Array(numeric);
    this.columnShift = new Float64Array(numeric).fill(NaN);
    this.codes = new Int32Array(categorical);
  }

  addRecord(record: readonly string[]): void {
    const { numericAt, categoricalAt, numericValues, columnShift, numericProfiles, codes, categoryCodes, categoryCounts } = this;
    this.rows += 1;
    for (let i = 0; i < numericAt.length; i++) {
      const cell = record[numericAt[i]!]!;
      if (cell === '') {
        numericValues[i] = NaN;
        numericProfiles[i]!.missing += 1;
      } else {
        const value = Number(cell);
        if (columnShift[i] !== columnShift[i]) columnShift[i] = value;
        numericValues[i] = value - columnShift[i]!;
        numericProfiles[i]!.add(value);
      }
    }
    for (let c = 0; c < categoricalAt.length; c++) {
      const cell = record[categoricalAt[c]!]!;
      if (cell === '') {
        codes[c] = -1;
        continue;
      }
      let code = categoryCodes[c]!.get(cell);
      if (code === undefined) {
        code = categoryCodes[c]!.size;
        categoryCodes[c]!.set(cell, code);
        categoryCounts[c]!.push(0);
        if (code > this.largestCode) this.largestCode = code;
      }
      codes[c] = code;
      categoryCounts[c]![code]! += 1;
    }
    this.numericPairs.add(numericValues);
    this.categoricalPairs.add(codes, this.largestCode);
    this.mixedPairs.add(codes, numericValues, this.largestCode);
  }
}
