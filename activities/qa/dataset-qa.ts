/**
 * QA of one synthetic dataset against its spec (seed 000's QA): what the spec expects (expected.ts),
 * one streaming pass adding up the dataset (csv-pass.ts into accumulators.ts), and the comparisons and
 * pair tests built from those sums (output.ts).
 */
import type { TableSpec } from '../synth/spec';
import { accumulateCsv } from './csv-pass';
import { type Compared, comparedColumns } from './expected';
import { categoricalMetrics, type DatasetQa, numericalMetrics, pairTests, type QaWarning } from './output';

export type { CategoricalMetric, CorrelationPValue, DatasetQa, NumericalMetric, QaWarning } from './output';

/** An abort of `signal` stops the pass over the dataset. */
export async function analyseDataset(path: string, table: TableSpec, delimiter: ',' | '\t', onProgress: (rows: number) => void = () => undefined, signal?: AbortSignal): Promise<DatasetQa> {
  const { compared, notCompared, notes } = comparedColumns(table);
  const numeric = compared.filter((column): column is Extract<Compared, { kind: 'numeric' }> => column.kind === 'numeric');
  const categorical = compared.filter((column): column is Extract<Compared, { kind: 'categorical' }> => column.kind === 'categorical');
  const names = { numeric: numeric.map((column) => column.name), categorical: categorical.map((column) => column.name) };
  const accumulator = await accumulateCsv(path, delimiter, names, onProgress, signal);
  const pairs = pairTests(names.numeric, names.categorical, accumulator);
  const warnings: QaWarning[] = [...notCompared.map((warning) => ({ ...warning, reason: `not compared: ${warning.reason}` })), ...notes, ...pairs.warnings];
  return {
    rows: accumulator.rows,
    compared: names,
    numerical_metrics_comparison: numericalMetrics(numeric, accumulator),
    ...categoricalMetrics(categorical, accumulator),
    corr_p_values: pairs.corr_p_values,
    warnings,
  };
}
