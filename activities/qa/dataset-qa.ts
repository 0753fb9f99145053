/**
 * QA of one synthetic dataset against its spec (seed 000's QA): per numeric column the spec's value
 * against the synthetic mean, standard deviation, min, max and missing fraction; per categorical column
 * and option the expected against the synthetic proportion, with the total variation distance; and a
 * p-value for every pair of compared columns (Pearson, chi-square or one-way ANOVA). Pairs where a test
 * is undefined, and columns that are not compared, are listed with the reason. One streaming pass.
 */
import { readCsvRecords } from '../storage/csv-reader';
import type { TableSpec } from '../synth/spec';
import { anovaFromGroups, chiSquareIndependence, pearsonFromSums, type TestResult } from './statistics';

export interface NumericalMetric {
  Name: string;
  stat: 'mean' | 'standard_deviation' | 'min' | 'max' | 'missing_value_freq';
  /** The synthetic value. */
  value: number | null;
  /** The spec's (or summary's) value. */
  expected: number | null;
}

export interface CategoricalMetric {
  Name: string;
  Category_Option: string;
  proportion_original: number;
  proportion_synthetic: number;
}

export interface CorrelationPValue {
  Comparison_column_1: string;
  Comparison_column_2: string;
  p_value: number;
  test: 'correlation' | 'chi_square' | 'anova';
}

export interface QaWarning {
  Comparison_column_1?: string;
  Comparison_column_2?: string;
  Name?: string;
  test?: CorrelationPValue['test'];
  reason: string;
}

export interface DatasetQa {
  rows: number;
  numerical_metrics_comparison: NumericalMetric[];
  categorical_metrics_comparison: CategoricalMetric[];
  total_variation_distance: Array<{ Name: string; total_variation_distance: number }>;
  corr_p_values: CorrelationPValue[];
  warnings: QaWarning[];
}

type Compared =
  | { name: string; kind: 'numeric'; expected: { mean: number; sd: number; min: number; max: number; missing: number } }
  | { name: string; kind: 'categorical'; expected: Map<string, number> };

/** Why a column of this type is left out of the comparisons. */
const NOT_COMPARED: Record<Exclude<TableSpec['columns'][number]['type'], 'numeric' | 'categorical' | 'paired'>, string> = {
  derived: 'derived from other columns of the row, so correlated with them by design',
  id: 'an identifier',
  'foreign-key': 'an identifier',
  'grouped-id': 'an identifier',
  date: 'dates are not compared',
  text: 'free text is not compared',
  constant: 'a constant',
};

/** What can be compared, from the spec; everything else is listed with the reason. */
export function comparedColumns(table: TableSpec): { compared: Compared[]; notCompared: QaWarning[] } {
  const compared: Compared[] = [];
  const notCompared: QaWarning[] = [];
  for (const column of table.columns) {
    switch (column.type) {
      case 'numeric': {
        let mean: number;
        let sd: number;
        if (column.distribution === 'normal') {
          mean = column.mean!;
          sd = column.sd!;
        } else if (column.kind === 'integer') {
          const [a, b] = [Math.ceil(column.min), Math.floor(column.max)];
          mean = (a + b) / 2;
          sd = Math.sqrt(((b - a + 1) ** 2 - 1) / 12);
        } else {
          mean = (column.min + column.max) / 2;
          sd = (column.max - column.min) / Math.sqrt(12);
        }
        compared.push({ name: column.name, kind: 'numeric', expected: { mean, sd, min: column.min, max: column.max, missing: column.missing } });
        break;
      }
      case 'categorical': {
        const total = Object.values(column.values).reduce((sum, p) => sum + p, 0);
        const expected = new Map(Object.entries(column.values).map(([value, p]) => [value, ((1 - column.missing) * p) / total]));
        expected.set('nan', column.missing);
        compared.push({ name: column.name, kind: 'categorical', expected });
        break;
      }
      case 'paired':
        notCompared.push({ Name: column.name, reason: `paired with ${column.source}, so correlated with it by design` });
        break;
      default:
        notCompared.push({ Name: column.name, reason: NOT_COMPARED[column.type] });
    }
  }
  return { compared, notCompared };
}

class NumericProfile {
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
class NumericPairs {
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
class CategoricalPairs {
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

class MixedPairs {
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
      Array.from({ length: capacity }, (_, g) => ({ n: this.n[p * capacity + g]!, sum: this.sum[p * capacity + g]!, sumSquares: this.sumSquares[p * capacity + g]!, shift: 0 })),
    );
  }
}

function allPairs(count: number): [Int32Array, Int32Array] {
  const first: number[] = [];
  const second: number[] = [];
  for (let i = 0; i < count; i++) for (let j = i + 1; j < count; j++) {
    first.push(i);
    second.push(j);
  }
  return [Int32Array.from(first), Int32Array.from(second)];
}

export async function analyseDataset(path: string, table: TableSpec, delimiter: ',' | '\t', onProgress: (rows: number) => void = () => undefined): Promise<DatasetQa> {
  const { compared, notCompared } = comparedColumns(table);
  const numeric = compared.filter((column) => column.kind === 'numeric');
  const categorical = compared.filter((column) => column.kind === 'categorical');
  const numericProfiles = numeric.map(() => new NumericProfile());
  const categoryCodes = categorical.map(() => new Map<string, number>());
  const categoryCounts = categorical.map(() => [] as number[]);
  const numericPairs = new NumericPairs(...allPairs(numeric.length));
  const categoricalPairs = new CategoricalPairs(...allPairs(categorical.length));
  const mixedPairs = new MixedPairs(
    Int32Array.from(categorical.flatMap((_, c) => numeric.map(() => c))),
    Int32Array.from(categorical.flatMap(() => numeric.map((_, n) => n))),
  );
  let largestCode = 0;

  const numericValues = new Float64Array(numeric.length);
  // Each column's values less its first value: sums of squares then stay accurate.
  const columnShift = new Float64Array(numeric.length).fill(NaN);
  const codes = new Int32Array(categorical.length);
  let numericIndex: number[] = [];
  let categoricalIndex: number[] = [];
  let rows = 0;
  let header = true;
  for await (const batch of readCsvRecords(path, delimiter, { skipLeadingComments: true })) {
    onProgress(rows);
    for (const record of batch) {
      if (header) {
        const position = new Map(record.map((name, index) => [name, index]));
        const indexOf = (name: string): number => {
          const index = position.get(name);
          if (index === undefined) throw new Error(`${path} has no column "${name}"`);
          return index;
        };
        numericIndex = numeric.map((column) => indexOf(column.name));
        categoricalIndex = categorical.map((column) => indexOf(column.name));
        header = false;
        continue;
      }
      rows += 1;
      for (let i = 0; i < numeric.length; i++) {
        const cell = record[numericIndex[i]!]!;
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
      for (let c = 0; c < categorical.length; c++) {
        const cell = record[categoricalIndex[c]!]!;
        if (cell === '') {
          codes[c] = -1;
          continue;
        }
        let code = categoryCodes[c]!.get(cell);
        if (code === undefined) {
          code = categoryCodes[c]!.size;
          categoryCodes[c]!.set(cell, code);
          categoryCounts[c]!.push(0);
          if (code > largestCode) largestCode = code;
        }
        codes[c] = code;
        categoryCounts[c]![code]! += 1;
      }
      numericPairs.add(numericValues);
      categoricalPairs.add(codes, largestCode);
      mixedPairs.add(codes, numericValues, largestCode);
    }
  }

  const numerical_metrics_comparison: NumericalMetric[] = numeric.flatMap((column, i) => {
    const profile = numericProfiles[i]!;
    const expected = column.kind === 'numeric' ? column.expected : undefined!;
    return [
      { Name: column.name, stat: 'mean', value: profile.mean(), expected: expected.mean },
      { Name: column.name, stat: 'standard_deviation', value: profile.sd(), expected: expected.sd },
      { Name: column.name, stat: 'min', value: profile.n ? profile.min : null, expected: expected.min },
      { Name: column.name, stat: 'max', value: profile.n ? profile.max : null, expected: expected.max },
      { Name: column.name, stat: 'missing_value_freq', value: rows ? profile.missing / rows : null, expected: expected.missing },
    ] satisfies NumericalMetric[];
  });

  const categorical_metrics_comparison: CategoricalMetric[] = [];
  const total_variation_distance: DatasetQa['total_variation_distance'] = [];
  categorical.forEach((column, c) => {
    const expected = column.kind === 'categorical' ? column.expected : new Map<string, number>();
    const present = categoryCounts[c]!.reduce((sum, count) => sum + count, 0);
    const synthetic = new Map([...categoryCodes[c]!].map(([value, code]) => [value, categoryCounts[c]![code]! / Math.max(rows, 1)]));
    synthetic.set('nan', (rows - present) / Math.max(rows, 1));
    const options = [...new Set([...expected.keys(), ...synthetic.keys()])];
    let distance = 0;
    for (const option of options) {
      const original = expected.get(option) ?? 0;
      const proportion = synthetic.get(option) ?? 0;
      distance += Math.abs(original - proportion);
      categorical_metrics_comparison.push({ Name: column.name, Category_Option: option, proportion_original: original, proportion_synthetic: proportion });
    }
    total_variation_distance.push({ Name: column.name, total_variation_distance: distance / 2 });
  });

  const corr_p_values: CorrelationPValue[] = [];
  const warnings: QaWarning[] = notCompared.map((warning) => ({ ...warning, reason: `not compared: ${warning.reason}` }));
  const record = (a: string, b: string, test: CorrelationPValue['test'], result: TestResult): void => {
    if ('undefinedBecause' in result) warnings.push({ Comparison_column_1: a, Comparison_column_2: b, test, reason: result.undefinedBecause });
    else corr_p_values.push({ Comparison_column_1: a, Comparison_column_2: b, p_value: result.pValue, test });
  };
  numericPairs.first.forEach((i, p) => record(numeric[i]!.name, numeric[numericPairs.second[p]!]!.name, 'correlation', numericPairs.result(p)));
  categoricalPairs.first.forEach((i, p) => record(categorical[i]!.name, categorical[categoricalPairs.second[p]!]!.name, 'chi_square', categoricalPairs.result(p)));
  mixedPairs.categorical.forEach((c, p) => record(categorical[c]!.name, numeric[mixedPairs.numeric[p]!]!.name, 'anova', mixedPairs.result(p)));

  return { rows, numerical_metrics_comparison, categorical_metrics_comparison, total_variation_distance, corr_p_values, warnings };
}
