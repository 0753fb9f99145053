/** Generating a whole table in memory and reading it back, for tests. */
import { parse } from 'csv-parse/sync';

import type { OutputFormat } from '../../activities/storage/csv-cells';
import { generateTableText } from '../../activities/synth/generate';
import type { SynthSpec } from '../../activities/synth/spec';

export function tableText(spec: SynthSpec, table: string, format: OutputFormat = 'csv', range: { start?: number; end?: number; header?: boolean } = {}): string {
  return generateTableText(spec, table, { format, ...range });
}

/** The table as records keyed by column name ('' for a missing cell). */
export function tableRecords(spec: SynthSpec, table: string, format: OutputFormat = 'csv'): Array<Record<string, string>> {
  return parse(tableText(spec, table, format), { columns: true, delimiter: format === 'csv' ? ',' : '\t', relax_quotes: false }) as Array<Record<string, string>>;
}

export function column(records: Array<Record<string, string>>, name: string): string[] {
  return records.map((record) => record[name]!);
}

export function proportions(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return new Map([...counts].map(([value, count]) => [value, count / values.length]));
}

export function meanAndSd(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
  const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, sd: Math.sqrt(variance) };
}
