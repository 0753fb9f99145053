/**
 * QA in the layout BIT's R QA (QA_code.R) writes, for its downstream tools: one file per batch for each
 * of numerical_metrics_comparison, categorical_metrics_comparison and corr_p_values, each an object
 * keyed by the dataset's name cleaned as janitor::make_clean_names cleans it, each dataset a list of
 * rows as jsonlite writes a data frame (a missing value leaves its field out; numbers to 4 decimals).
 * What follows R's script:
 *   numerical   {Name, stat, value}: the synthetic mean, standard_deviation and missing_value_freq
 *   categorical {Name, Category_Option, proportion_original, proportion_synthetic}: the options of the
 *               summary with a proportion above 0, joined with those of the data (`nan` for missing);
 *               options normalised as the script does (a whole number "1.0" → "1", a date-time → its
 *               date, ≥ 6 decimals → 5); columns named Project, Project_Type or *_Desc left out
 *   corr_p_values  ANOVA rows first, as (numeric, categorical) pairs, then chi-square rows with their
 *               Chi_Square statistic, then correlation rows with their Correlation (r); a correlation
 *               with no p-value (a constant column) keeps its row without one, as R writes it
 * Our chi-square p-value is the asymptotic one; R's script simulates it (2000 tables), so its values
 * differ by Monte Carlo noise and never fall below 1/2001.
 */
import type { CategoricalMetric, CorrelationPValue, DatasetQa } from './output';

export const BIT_FILES = ['numerical_metrics_comparison.json', 'categorical_metrics_comparison.json', 'corr_p_values.json'] as const;
export type BitFile = (typeof BIT_FILES)[number];

/** A number as jsonlite writes it with its default digits = 4. */
export function jsonliteNumber(value: number): number {
  const size = Math.abs(value);
  if (size > 1e-5 && size < 2147483647) return Number(value.toFixed(4));
  if (size <= 1e-5) return Number(value.toPrecision(5));
  return Number(value.toPrecision(Math.ceil(Math.min(15, Math.log10(size) + 4))));
}

/**
 * janitor::make_clean_names: ASCII snake_case, words split at lower→upper case changes, a leading
 * digit prefixed with x (as make.names does), `%` → percent, `#` → number, duplicates numbered _2, _3….
 */
export function cleanNames(names: readonly string[]): string[] {
  const cleaned = names.map((name) => {
    const ascii = name
      .replace(/['"]/g, '')
      .replace(/%/g, '_percent_')
      .replace(/#/g, '_number_')
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/[^\x20-\x7e]/g, '');
    const start = ascii.replace(/^[^A-Za-z0-9]+/, '');
    const made = /^[0-9]/.test(start) || start === '' ? `X${start}` : start;
    const words = made
      .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
      .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
      .split(/[^A-Za-z0-9]+/)
      .filter(Boolean);
    return words.join('_').toLowerCase();
  });
  const seen = new Map<string, number>();
  return cleaned.map((name) => {
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count > 1 ? `${name}_${count}` : name;
  });
}

/** Categorical columns R's script leaves out (a project's constant labels and descriptions). */
const leftOut = (name: string): boolean => name === 'Project' || name === 'Project_Type' || name.endsWith('_Desc');

const SIX_DECIMALS = /^-?\d+\.\d{6,}$/;
const shortenDecimals = (option: string): string => (SIX_DECIMALS.test(option) ? Number(option).toFixed(5) : option);

/** A summary's option as the script normalises it. */
function originalOption(option: string): string {
  const n = Number(option);
  if (option.trim() !== '' && Number.isFinite(n) && Number.isInteger(n)) return String(Math.round(n));
  if (/^\d{4}-\d{2}-\d{2}.+/.test(option)) return option.slice(0, 10);
  return shortenDecimals(option);
}

type Row = Record<string, string | number>;

function numericalRows(qa: DatasetQa): Row[] {
  return qa.numerical_metrics_comparison
    .filter((metric) => metric.stat === 'mean' || metric.stat === 'standard_deviation' || metric.stat === 'missing_value_freq')
    .map((metric): Row => (metric.value === null || !Number.isFinite(metric.value) ? { Name: metric.Name, stat: metric.stat } : { Name: metric.Name, stat: metric.stat, value: jsonliteNumber(metric.value) }));
}

function categoricalRows(qa: DatasetQa): Row[] {
  const byColumn = new Map<string, CategoricalMetric[]>();
  for (const metric of qa.categorical_metrics_comparison) {
    if (leftOut(metric.Name)) continue;
    byColumn.set(metric.Name, [...(byColumn.get(metric.Name) ?? []), metric]);
  }
  const originals: Row[] = [];
  const syntheticOnly: Row[] = [];
  for (const [name, metrics] of byColumn) {
    // R reads a column of numbers as doubles, so its options come back as R writes doubles ("1.0" → "1").
    const present = metrics.filter((metric) => metric.proportion_synthetic > 0 && metric.Category_Option !== 'nan');
    const numeric = present.length > 0 && present.every((metric) => metric.Category_Option.trim() !== '' && Number.isFinite(Number(metric.Category_Option)));
    const synthetic = new Map<string, number>();
    for (const metric of metrics) {
      if (metric.proportion_synthetic <= 0) continue;
      const option = shortenDecimals(numeric && metric.Category_Option !== 'nan' ? String(Number(metric.Category_Option)) : metric.Category_Option);
      synthetic.set(option, (synthetic.get(option) ?? 0) + metric.proportion_synthetic);
    }
    const joined = new Set<string>();
    for (const metric of metrics) {
      if (!(metric.proportion_original > 0)) continue;
      const option = originalOption(metric.Category_Option);
      joined.add(option);
      const proportion = synthetic.get(option);
      originals.push({
        Name: name,
        Category_Option: option,
        proportion_original: jsonliteNumber(metric.proportion_original),
        ...(proportion === undefined ? {} : { proportion_synthetic: jsonliteNumber(proportion) }),
      });
    }
    for (const [option, proportion] of synthetic) if (!joined.has(option)) syntheticOnly.push({ Name: name, Category_Option: option, proportion_synthetic: jsonliteNumber(proportion) });
  }
  // dplyr's full join: the summary's rows in order, then the data's other rows as summarise sorts them.
  syntheticOnly.sort((a, b) => (String(a.Name) < String(b.Name) ? -1 : String(a.Name) > String(b.Name) ? 1 : String(a.Category_Option) < String(b.Category_Option) ? -1 : 1));
  return [...originals, ...syntheticOnly];
}

function pairRows(qa: DatasetQa): Row[] {
  const numericIndex = new Map(qa.compared.numeric.map((name, i) => [name, i]));
  const categoricalIndex = new Map(qa.compared.categorical.map((name, i) => [name, i]));
  const tested = (entry: CorrelationPValue): Row => {
    const base: Row = { Comparison_column_1: entry.Comparison_column_1, Comparison_column_2: entry.Comparison_column_2, p_value: jsonliteNumber(entry.p_value), test: entry.test };
    if (entry.test === 'chi_square') base.Chi_Square = jsonliteNumber(entry.statistic);
    if (entry.test === 'correlation') base.Correlation = jsonliteNumber(entry.statistic);
    return base;
  };
  const anova = qa.corr_p_values
    .filter((entry) => entry.test === 'anova' && !leftOut(entry.Comparison_column_1))
    .map((entry) => ({ ...entry, Comparison_column_1: entry.Comparison_column_2, Comparison_column_2: entry.Comparison_column_1 }))
    .sort((a, b) => numericIndex.get(a.Comparison_column_1)! - numericIndex.get(b.Comparison_column_1)! || categoricalIndex.get(a.Comparison_column_2)! - categoricalIndex.get(b.Comparison_column_2)!);
  const chiSquare = qa.corr_p_values.filter((entry) => entry.test === 'chi_square' && !leftOut(entry.Comparison_column_1) && !leftOut(entry.Comparison_column_2));
  // Correlations in pair order, those without a p-value (a constant column) kept as rows without one.
  const pairOrder = (a: string, b: string): number => numericIndex.get(a)! * qa.compared.numeric.length + numericIndex.get(b)!;
  const correlations: Array<{ order: number; row: Row }> = [
    ...qa.corr_p_values.filter((entry) => entry.test === 'correlation').map((entry) => ({ order: pairOrder(entry.Comparison_column_1, entry.Comparison_column_2), row: tested(entry) })),
    ...qa.warnings
      .filter((warning) => warning.test === 'correlation' && warning.Comparison_column_1 !== undefined && warning.Comparison_column_2 !== undefined)
      .map((warning) => ({
        order: pairOrder(warning.Comparison_column_1!, warning.Comparison_column_2!),
        row: { Comparison_column_1: warning.Comparison_column_1!, Comparison_column_2: warning.Comparison_column_2!, test: 'correlation' },
      })),
  ].sort((a, b) => a.order - b.order);
  return [...anova.map(tested), ...chiSquare.map(tested), ...correlations.map((entry) => entry.row)];
}

/** The batch's three files, each keyed by the cleaned dataset names. */
export function bitLayoutFiles(datasets: ReadonlyArray<{ name: string; qa: DatasetQa }>): Record<BitFile, Record<string, Row[]>> {
  const keys = cleanNames(datasets.map((dataset) => dataset.name));
  const byKey = (rows: (qa: DatasetQa) => Row[]): Record<string, Row[]> => Object.fromEntries(datasets.map((dataset, i) => [keys[i]!, rows(dataset.qa)]));
  return {
    'numerical_metrics_comparison.json': byKey(numericalRows),
    'categorical_metrics_comparison.json': byKey(categoricalRows),
    'corr_p_values.json': byKey(pairRows),
  };
}
