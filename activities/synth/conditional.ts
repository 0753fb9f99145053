/**
 * Conditional numeric distributions: a numeric column's parameters depending on categorical columns of
 * the same row (exhibit's weight columns in `original_values`). Per source column, each value's weight
 * becomes a factor:
 * - weighted: factor = w(v) / E[w] (E over the source's own probabilities), multiplied across sources,
 *   so the overall mean stays `mean` (or the range is used when there is no mean);
 * - normal: the mean is shifted by (w(v) / Σw) / (1 / k) − 1 per source (k listed values), added across
 *   sources (exhibit's rule for normal columns).
 * A value without a weight (or a missing cell) is neutral: factor 1, shift 0.
 */
import type { ColumnOf, TableSpec } from './spec';

export interface SourceFactors {
  column: string;
  /** factor (weighted) or shift (normal) per value */
  byValue: Map<string, number>;
  /** Each value's probability among the source's present values, for expectations. */
  probabilities: Array<[number, number]>;
}

export function conditionalFactors(column: ColumnOf<'numeric'>, table: TableSpec): SourceFactors[] {
  return Object.entries(column.weights ?? {}).map(([source, weights]) => {
    const sourceColumn = table.columns.find((candidate) => candidate.name === source);
    const values = sourceColumn?.type === 'categorical' ? sourceColumn.values : {};
    const total = Object.values(values).reduce((sum, p) => sum + p, 0) || 1;
    const byValue = new Map<string, number>();
    if (column.distribution === 'normal') {
      const weightTotal = Object.values(weights).reduce((sum, w) => sum + w, 0);
      const k = Object.keys(weights).length;
      for (const [value, w] of Object.entries(weights)) byValue.set(value, (w / weightTotal) * k - 1);
    } else {
      let expected = 0;
      for (const [value, p] of Object.entries(values)) expected += (p / total) * (weights[value] ?? 1);
      for (const [value, w] of Object.entries(weights)) byValue.set(value, expected > 0 ? w / expected : 0);
    }
    const neutral = column.distribution === 'normal' ? 0 : 1;
    const probabilities = Object.entries(values).map(([value, p]) => [p / total, byValue.get(value) ?? neutral] as [number, number]);
    return { column: source, byValue, probabilities };
  });
}

/** Expected mean and sd of a numeric column with weights (categorical sources independent). */
export function conditionalMoments(column: ColumnOf<'numeric'>, table: TableSpec): { mean: number; sd: number } {
  const sources = conditionalFactors(column, table);
  if (column.distribution === 'normal') {
    const mean = column.mean!;
    let shiftMean = 0;
    let shiftVariance = 0;
    for (const source of sources) {
      const m = source.probabilities.reduce((sum, [p, s]) => sum + p * s, 0);
      shiftMean += m;
      shiftVariance += source.probabilities.reduce((sum, [p, s]) => sum + p * (s - m) ** 2, 0);
    }
    return { mean: mean * (1 + shiftMean), sd: Math.sqrt(column.sd! ** 2 + mean * mean * shiftVariance) };
  }
  const d = column.dispersion ?? 0;
  let product = 1;
  let productSquares = 1;
  for (const source of sources) {
    product *= source.probabilities.reduce((sum, [p, f]) => sum + p * f, 0);
    productSquares *= source.probabilities.reduce((sum, [p, f]) => sum + p * f * f, 0);
  }
  const noiseSquares = 1 + (d * d) / 3;
  const variance = productSquares * noiseSquares - product * product;
  const { low, high } = weightedRange(column, table);
  if (column.mean !== undefined) return { mean: column.mean * product, sd: column.mean * Math.sqrt(Math.max(0, variance)) };
  const scale = high > low ? (column.max - column.min) / (high - low) : 0;
  return { mean: column.min + (product - low) * scale, sd: scale * Math.sqrt(Math.max(0, variance)) };
}

/** The smallest and largest product of factors (times the dispersion bounds) over values that occur. */
export function weightedRange(column: ColumnOf<'numeric'>, table: TableSpec): { low: number; high: number } {
  const d = column.dispersion ?? 0;
  let low = 1 - d;
  let high = 1 + d;
  for (const source of conditionalFactors(column, table)) {
    const occurring = source.probabilities.filter(([p]) => p > 0).map(([, f]) => f);
    if (occurring.length === 0) continue;
    low *= Math.min(...occurring);
    high *= Math.max(...occurring);
  }
  return { low, high };
}
