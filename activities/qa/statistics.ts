/**
 * The tests of the QA (seed 000's R code, in TypeScript): Pearson correlation, chi-square test of
 * independence (no continuity correction), one-way ANOVA, and Kolmogorov–Smirnov against U(0, 1).
 * The chi-square tail is gamma.ts's (accurate at any df); t and F come from stdlib. Tests compare
 * p-values with SciPy's (to 1e-6 on worked examples; the chi-square tail to 1e-9 relative).
 */
import fCdf from '@stdlib/stats-base-dists-f-cdf';
import tCdf from '@stdlib/stats-base-dists-t-cdf';

import { chiSquareSurvival } from './gamma';

export type TestResult = { statistic: number; pValue: number; df: number | [number, number] } | { undefinedBecause: string };

/** Pearson's r and its two-sided p-value (t distribution, n−2 df) from sums of (shifted) pairs. */
export function pearsonFromSums(n: number, sx: number, sy: number, sxx: number, syy: number, sxy: number): TestResult {
  if (n < 3) return { undefinedBecause: `only ${n} rows have both values (3 needed)` };
  const cxx = sxx - (sx * sx) / n;
  const cyy = syy - (sy * sy) / n;
  const cxy = sxy - (sx * sy) / n;
  if (!(cxx > 0) || !(cyy > 0)) return { undefinedBecause: 'a column is constant, so the correlation is undefined' };
  const r = Math.max(-1, Math.min(1, cxy / Math.sqrt(cxx * cyy)));
  const df = n - 2;
  if (Math.abs(r) === 1) return { statistic: r, pValue: 0, df };
  const t = r * Math.sqrt(df / (1 - r * r));
  return { statistic: r, pValue: Math.min(1, 2 * tCdf(-Math.abs(t), df)), df };
}

/** Pearson's chi-square test of independence on a contingency table of counts. */
export function chiSquareIndependence(table: number[][]): TestResult {
  const rows = table.filter((row) => row.some((count) => count > 0));
  if (rows.length === 0) return { undefinedBecause: 'no rows have both values' };
  const columns = rows[0]!.map((_, c) => c).filter((c) => rows.some((row) => row[c]! > 0));
  if (rows.length < 2 || columns.length < 2) return { undefinedBecause: 'a column takes only one value where both are present' };
  const rowTotals = rows.map((row) => columns.reduce((sum, c) => sum + row[c]!, 0));
  const columnTotals = columns.map((c) => rows.reduce((sum, row) => sum + row[c]!, 0));
  const total = rowTotals.reduce((sum, n) => sum + n, 0);
  let statistic = 0;
  rows.forEach((row, r) =>
    columns.forEach((c, j) => {
      const expected = (rowTotals[r]! * columnTotals[j]!) / total;
      statistic += (row[c]! - expected) ** 2 / expected;
    }),
  );
  const df = (rows.length - 1) * (columns.length - 1);
  return { statistic, pValue: chiSquareSurvival(statistic, df), df };
}

/**
 * One-way ANOVA from per-group count, sum and sum of squares (of values less one shift common to all
 * groups, which changes neither the between- nor the within-group sums of squares).
 */
export function anovaFromGroups(all: Array<{ n: number; sum: number; sumSquares: number }>): TestResult {
  const groups = all.filter((group) => group.n > 0);
  const k = groups.length;
  const n = groups.reduce((sum, group) => sum + group.n, 0);
  if (k < 2) return { undefinedBecause: 'the categorical column takes only one value where both are present' };
  if (n - k < 1) return { undefinedBecause: 'every group has a single row, so the within-group variance is undefined' };
  const means = groups.map((group) => group.sum / group.n);
  const grandMean = groups.reduce((sum, group, i) => sum + group.n * means[i]!, 0) / n;
  const between = groups.reduce((sum, group, i) => sum + group.n * (means[i]! - grandMean) ** 2, 0);
  const within = groups.reduce((sum, group) => sum + (group.sumSquares - (group.sum * group.sum) / group.n), 0);
  if (!(within > 0)) return { undefinedBecause: 'the numeric column is constant within every group' };
  const dfBetween = k - 1;
  const dfWithin = n - k;
  const statistic = between / dfBetween / (within / dfWithin);
  return { statistic, pValue: Math.max(0, 1 - fCdf(statistic, dfBetween, dfWithin)), df: [dfBetween, dfWithin] };
}

/**
 * Kolmogorov–Smirnov test of a sample against U(0, 1): D = max distance between the empirical and the
 * uniform CDF; the p-value from Marsaglia, Tsang and Wang's exact distribution (as SciPy's
 * method='exact'), switching to the asymptotic Kolmogorov series for large samples.
 */
export function ksUniform(sample: number[]): TestResult {
  const n = sample.length;
  if (n === 0) return { undefinedBecause: 'no p-values to test' };
  const sorted = [...sample].sort((a, b) => a - b);
  let d = 0;
  sorted.forEach((value, i) => {
    d = Math.max(d, (i + 1) / n - value, value - i / n);
  });
  return { statistic: d, pValue: Math.min(1, Math.max(0, 1 - kolmogorovCdf(n, d))), df: n };
}

/** P(D_n < d), Marsaglia–Tsang–Wang (2003) for n·d² < 18 and n ≤ 10000, else the Kolmogorov limit. */
export function kolmogorovCdf(n: number, d: number): number {
  if (d <= 0) return 0;
  if (d >= 1) return 1;
  const s = d * d * n;
  if (s > 7.24 || (s > 3.76 && n > 99) || n > 10000) {
    // Asymptotic: 1 − 2 Σ (−1)^(k−1) e^(−2k²s), with the usual correction for finite n.
    const lambda = (Math.sqrt(n) + 0.12 + 0.11 / Math.sqrt(n)) * d;
    let sum = 0;
    for (let k = 1; k < 100; k++) sum += (k % 2 === 1 ? 1 : -1) * Math.exp(-2 * k * k * lambda * lambda);
    return Math.max(0, Math.min(1, 1 - 2 * sum));
  }
  const k = Math.floor(n * d) + 1;
  const m = 2 * k - 1;
  const h = k - n * d;
  const H = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) H[i * m + j] = i - j + 1 < 0 ? 0 : 1;
  for (let i = 0; i < m; i++) {
    H[i * m] = H[i * m]! - h ** (i + 1);
    H[(m - 1) * m + i] = H[(m - 1) * m + i]! - h ** (m - i);
  }
  H[(m - 1) * m] = H[(m - 1) * m]! + (2 * h - 1 > 0 ? (2 * h - 1) ** m : 0);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i - j + 1 > 0) for (let g = 1; g <= i - j + 1; g++) H[i * m + j] = H[i * m + j]! / g;
    }
  }
  const { matrix, exponent } = matrixPower(H, m, n);
  let result = matrix[(k - 1) * m + (k - 1)]!;
  let e = exponent;
  for (let i = 1; i <= n; i++) {
    result = (result * i) / n;
    if (result < 1e-140) {
      result *= 1e140;
      e -= 140;
    }
  }
  return result * 10 ** e;
}

function multiply(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const c = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += a[i * m + k]! * b[k * m + j]!;
      c[i * m + j] = s;
    }
  }
  return c;
}

/** H^n with a separate power-of-ten exponent, so the entries never overflow. */
function matrixPower(h: Float64Array, m: number, n: number): { matrix: Float64Array; exponent: number } {
  if (n === 1) return { matrix: h, exponent: 0 };
  const half = matrixPower(h, m, Math.floor(n / 2));
  let matrix = multiply(half.matrix, half.matrix, m);
  let exponent = 2 * half.exponent;
  if (n % 2 === 1) matrix = multiply(h, matrix, m);
  const centre = matrix[Math.floor(m / 2) * m + Math.floor(m / 2)]!;
  if (centre > 1e140) {
    for (let i = 0; i < m * m; i++) matrix[i] = matrix[i]! * 1e-140;
    exponent += 140;
  }
  return { matrix, exponent };
}
