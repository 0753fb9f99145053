/** Generating a whole table in memory and reading it back, for tests. */
import { parse } from 'csv-parse/sync';

import type { OutputFormat } from '../../activities/storage/csv-cells';
import { generateTableText } from '../../activities/synth/generate';
import { parseSynthSpec, type SynthSpec } from '../../activities/synth/spec';

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

/** A 1,000-row clinic table with every kind of column a series carries over (ids, groups, derived). */
export const CLINIC_SPEC = parseSynthSpec({
  name: 'clinic',
  seed: 5,
  tables: [
    {
      name: 'patients',
      rows: 1000,
      columns: [
        { name: 'patient_id', type: 'id', format: { kind: 'uuid', prefix: 'pt-' }, primaryKey: true },
        { name: 'gender', type: 'categorical', values: { F: 0.5, M: 0.5 } },
        { name: 'birth_year', type: 'numeric', kind: 'integer', min: 1940, max: 2010 },
        { name: 'visit_date', type: 'date', from: '2024-01-31', to: '2024-02-29' },
        { name: 'weight', type: 'numeric', distribution: 'normal', mean: 70, sd: 10, min: 30, max: 150, precision: 1 },
        { name: 'clinic', type: 'grouped-id', format: { kind: 'digits', minLength: 3, maxLength: 3 }, groupSize: 'int(rows / 100)' },
        { name: 'age_at_visit', type: 'derived', expression: '2024 - birth_year' },
        { name: 'weight_lb', type: 'derived', expression: 'weight * 2.2', precision: 1 },
      ],
    },
  ],
});

/** Native YAML of two tables: 300 schools, and `pupils` pupils each in one of them. */
export function schoolsSpecYaml(pupils: number): string {
  return `
name: schools
seed: 11
tables:
  - name: schools
    rows: 300
    columns:
      - { name: school_id, type: id, format: { kind: digits, minLength: 4, maxLength: 6 }, primaryKey: true }
      - { name: region, type: categorical, values: { North: 0.5, South: 0.5 } }
  - name: pupils
    rows: ${pupils}
    columns:
      - { name: pupil_id, type: id, format: { kind: uuid, prefix: avf-pupil- }, primaryKey: true }
      - { name: school_id, type: foreign-key, references: schools.school_id }
      - { name: score, type: numeric, distribution: normal, mean: 100, sd: 15, min: 40, max: 160, precision: 1 }
`;
}
