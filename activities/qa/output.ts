/**
 * The shapes QA writes (seed 000's field names) and how they are built from the accumulated sums:
 * numerical and categorical metric comparisons, total variation distance, and a p-value (or the reason
 * there is none) for every pair of compared columns.
 */
import type { DatasetAccumulator } from './accumulators';
import type { Compared } from './expected';
import type { TestResult } from './statistics';

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
  /** Pearson's r, the chi-square statistic or F (BIT's layout writes the first two). */
  statistic: number;
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
  /** The columns in the comparisons and pair tests, in spec order. */
  compared: { numeric: string[]; categorical: string[] };
  numerical_metrics_comparison: NumericalMetric[];
  categorical_metrics_comparison: CategoricalMetric[];
  total_variation_distance: Array<{ Name: string; total_variation_distance: number }>;
  corr_p_values: CorrelationPValue[];
  warnings: QaWarning[];
}


/** Spec against synthetic statistics of each numeric column. */
export function numericalMetrics(numeric: Array<Extract<Compared, { kind: 'numeric' }>>, accumulator: DatasetAccumulator): NumericalMetric[] {
  const rows = accumulator.rows;
  return numeric.flatMap((column, i) => {
    const profile = accumulator.numericProfiles[i]!;
    const expected = column.expected;
    return [
      { Name: column.name, stat: 'mean', value: profile.mean(), expected: expected?.mean ?? null },
      { Name: column.name, stat: 'standard_deviation', value: profile.sd(), expected: expected?.sd ?? null },
      { Name: column.name, stat: 'min', value: profile.n ? profile.min : null, expected: expected?.min ?? null },
      { Name: column.name, stat: 'max', value: profile.n ? profile.max : null, expected: expected?.max ?? null },
      { Name: column.name, stat: 'missing_value_freq', value: rows ? profile.missing / rows : null, expected: expected?.missing ?? null },
    ] satisfies NumericalMetric[];
  });
}

/** Expected against synthetic proportion of each option (and `nan`), and each column's total variation distance. */
export function categoricalMetrics(
  categorical: Array<Extract<Compared, { kind: 'categorical' }>>,
  accumulator: DatasetAccumulator,
): Pick<DatasetQa, 'categorical_metrics_comparison' | 'total_variation_distance'> {
  const rows = accumulator.rows;
  const categorical_metrics_comparison: CategoricalMetric[] = [];
  const total_variation_distance: DatasetQa['total_variation_distance'] = [];
  categorical.forEach((column, c) => {
    const expected = column.expected;
    if (!expected) return; // an identifier: in the pair tests only
    const counts = accumulator.categoryCounts[c]!;
    const present = counts.reduce((sum, count) => sum + count, 0);
    const synthetic = new Map([...accumulator.categoryCodes[c]!].map(([value, code]) => [value, counts[code]! / Math.max(rows, 1)]));
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
  return { categorical_metrics_comparison, total_variation_distance };
}

/**
 * Every pair's test from the accumulated sums: Pearson for numeric pairs, chi-square for categorical
 * pairs, one-way ANOVA for (categorical, numeric) pairs; an undefined test becomes a warning.
 */
export function pairTests(numericNames: readonly string[], categoricalNames: readonly string[], accumulator: DatasetAccumulator): { corr_p_values: CorrelationPValue[]; warnings: QaWarning[] } {
  const corr_p_values: CorrelationPValue[] = [];
  const warnings: QaWarning[] = [];
  const record = (a: string, b: string, test: CorrelationPValue['test'], result: TestResult): void => {
    if ('undefinedBecause' in result) warnings.push({ Comparison_column_1: a, Comparison_column_2: b, test, reason: result.undefinedBecause });
    else corr_p_values.push({ Comparison_column_1: a, Comparison_column_2: b, p_value: result.pValue, test, statistic: result.statistic });
  };
  const { numericPairs, categoricalPairs, mixedPairs } = accumulator;
  numericPairs.first.forEach((i, p) => record(numericNames[i]!, numericNames[numericPairs.second[p]!]!, 'correlation', numericPairs.result(p)));
  categoricalPairs.first.forEach((i, p) => record(categoricalNames[i]!, categoricalNames[categoricalPairs.second[p]!]!, 'chi_square', categoricalPairs.result(p)));
  mixedPairs.categorical.forEach((c, p) => record(categoricalNames[c]!, numericNames[mixedPairs.numeric[p]!]!, 'anova', mixedPairs.result(p)));
  return { corr_p_values, warnings };
}
