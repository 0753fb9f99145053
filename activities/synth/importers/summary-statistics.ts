/**
 * Imports seed 000's summary-statistics table definition:
 *   { Table_name, Number_of_rows, Column_details: [ { Name, Type, … } ] }
 * Types (case-insensitive):
 *   numeric      mean, standard_deviation, minimum, maximum, is_integer, decimal_precision,
 *                missing_value_freq (a fraction, or a count when above 1)
 *   categorical  Values: { value: frequency }; "nan" is the missing share; a frequency below the
 *                disclosure threshold is suppressed (null or text such as "<10") and counts as 5
 *   date, datetime  earliest, latest, format (strftime: %Y %m %d %H %M %S)
 *   text         Pattern, or min_length and max_length
 *   empty        every value missing
 * The seed's plausible id columns are generated with its rules whatever their Type (unless empty):
 *   Project_Row_ID row numbers; Anon_Pupil_ID unique 4–7 digits; Anon_School_ID 4–6 digits shared by
 *   groups of max(5, min(rows/50, 250)); Anon_Teacher_ID 1–2 digits, max(5, min(rows/100, 80));
 *   Anon_Class_ID 1–3 digits, max(5, min(rows/100, 500)). Ids have no leading zero.
 * Unknown keys or types are errors naming their path.
 */
import { type ColumnSpec, parseSynthSpec, SpecError, type SynthSpec } from '../spec';

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A suppressed count is somewhere in 1..9; its midpoint stands in for it. */
export const SUPPRESSED_COUNT = 5;

export const SEED_ID_COLUMNS: Record<string, ColumnSpec> = {
  Project_Row_ID: { name: 'Project_Row_ID', type: 'id', format: { kind: 'row-number', start: 1 }, primaryKey: false, missing: 0 },
  Anon_Pupil_ID: { name: 'Anon_Pupil_ID', type: 'id', format: { kind: 'digits', minLength: 4, maxLength: 7 }, primaryKey: true, missing: 0 },
  Anon_School_ID: { name: 'Anon_School_ID', type: 'grouped-id', format: { kind: 'digits', minLength: 4, maxLength: 6 }, groupSize: 'int(max(5, min(rows / 50, 250)))', missing: 0 },
  Anon_Teacher_ID: { name: 'Anon_Teacher_ID', type: 'grouped-id', format: { kind: 'digits', minLength: 1, maxLength: 2 }, groupSize: 'int(max(5, min(rows / 100, 80)))', missing: 0 },
  Anon_Class_ID: { name: 'Anon_Class_ID', type: 'grouped-id', format: { kind: 'digits', minLength: 1, maxLength: 3 }, groupSize: 'int(max(5, min(rows / 100, 500)))', missing: 0 },
};

const KNOWN: Record<string, string[]> = {
  numeric: ['mean', 'standard_deviation', 'minimum', 'maximum', 'is_integer', 'decimal_precision', 'missing_value_freq'],
  categorical: ['Values', 'missing_value_freq'],
  date: ['earliest', 'latest', 'format', 'missing_value_freq'],
  datetime: ['earliest', 'latest', 'format', 'missing_value_freq'],
  text: ['Pattern', 'min_length', 'max_length', 'missing_value_freq'],
  empty: [],
};

function isoDate(text: string): string {
  return text.trim().replace(' ', 'T');
}

export function importSummaryStatistics(document: unknown, options: { name?: string; warnings?: string[] } | string = {}): SynthSpec {
  const name = typeof options === 'string' ? options : options.name;
  const problems: string[] = [];
  const problem = (path: string, message: string): void => void problems.push(`${path}: ${message}`);
  if (!isRecord(document)) throw new SpecError(['(root): expected { Table_name, Number_of_rows, Column_details }']);
  for (const key of Object.keys(document)) if (!['Table_name', 'Number_of_rows', 'Column_details'].includes(key)) problem(key, 'is not a summary-statistics key');
  const tableName = typeof document.Table_name === 'string' && document.Table_name ? document.Table_name : undefined;
  if (!tableName) problem('Table_name', 'must be a non-empty string');
  const rows = document.Number_of_rows;
  if (typeof rows !== 'number') problem('Number_of_rows', 'must be a number');
  if (!Array.isArray(document.Column_details)) problem('Column_details', 'must be a list');

  const columns: ColumnSpec[] = [];
  (Array.isArray(document.Column_details) ? document.Column_details : []).forEach((detail: unknown, index) => {
    const at = `Column_details[${index}]`;
    if (!isRecord(detail) || typeof detail.Name !== 'string') {
      problem(at, 'needs a Name');
      return;
    }
    const columnName = detail.Name;
    const type = String(detail.Type ?? '').toLowerCase();
    const known = KNOWN[type];
    if (!known) {
      problem(`${at}.Type`, `"${String(detail.Type)}" is not a supported type (${Object.keys(KNOWN).join(', ')})`);
      return;
    }
    for (const key of Object.keys(detail)) if (key !== 'Name' && key !== 'Type' && !known.includes(key)) problem(`${at}.${key}`, `is not a key of a ${type} column`);
    if (type !== 'empty' && SEED_ID_COLUMNS[columnName]) {
      columns.push(SEED_ID_COLUMNS[columnName]!);
      return;
    }
    let missing = Number(detail.missing_value_freq ?? 0);
    if (missing > 1 && typeof rows === 'number' && rows > 0) missing = missing / rows;
    if (!(missing >= 0 && missing <= 1)) problem(`${at}.missing_value_freq`, 'must be a fraction or a count of rows');

    switch (type) {
      case 'numeric': {
        const numbers = ['mean', 'standard_deviation', 'minimum', 'maximum'].map((key) => [key, Number(detail[key])] as const);
        for (const [key, value] of numbers) if (!Number.isFinite(value)) problem(`${at}.${key}`, 'must be a number');
        const [mean, sd, min, max] = numbers.map(([, value]) => value) as [number, number, number, number];
        const precision = detail.decimal_precision === undefined ? undefined : Number(detail.decimal_precision);
        columns.push(
          sd > 0
            ? { name: columnName, type: 'numeric', kind: detail.is_integer ? 'integer' : 'float', distribution: 'normal', mean, sd, min, max, ...(precision !== undefined && !detail.is_integer ? { precision } : {}), missing }
            : { name: columnName, type: 'numeric', kind: detail.is_integer ? 'integer' : 'float', distribution: 'uniform', min: mean, max: mean, missing },
        );
        break;
      }
      case 'categorical': {
        if (!isRecord(detail.Values)) {
          problem(`${at}.Values`, 'must map each value to its frequency');
          break;
        }
        const counts = Object.entries(detail.Values).map(([value, frequency]) => {
          const count = typeof frequency === 'number' ? frequency : Number.isFinite(Number(frequency)) && frequency !== null && frequency !== '' ? Number(frequency) : SUPPRESSED_COUNT;
          return [value, count] as const;
        });
        const total = counts.reduce((sum, [, count]) => sum + count, 0);
        const missingCount = counts.filter(([value]) => value === 'nan' || value === 'NaN').reduce((sum, [, count]) => sum + count, 0);
        const present = counts.filter(([value]) => value !== 'nan' && value !== 'NaN');
        if (present.length === 0 || total - missingCount <= 0) {
          problem(`${at}.Values`, 'has no value other than nan');
          break;
        }
        const values = Object.fromEntries(present.map(([value, count]) => [value, count / (total - missingCount)]));
        columns.push({ name: columnName, type: 'categorical', values, missing: missingCount > 0 ? missingCount / total : missing });
        break;
      }
      case 'date':
      case 'datetime': {
        const format = detail.format === undefined ? undefined : String(detail.format);
        if (format && /%[^YmdHMS%]/.test(format)) problem(`${at}.format`, `"${format}" uses codes other than %Y %m %d %H %M %S`);
        if (typeof detail.earliest !== 'string') problem(`${at}.earliest`, 'must be a date');
        if (typeof detail.latest !== 'string') problem(`${at}.latest`, 'must be a date');
        if (typeof detail.earliest === 'string' && typeof detail.latest === 'string') {
          columns.push({ name: columnName, type: 'date', from: isoDate(detail.earliest), to: isoDate(detail.latest), datetime: type === 'datetime', ...(format ? { format } : {}), missing });
        }
        break;
      }
      case 'text':
        columns.push(
          typeof detail.Pattern === 'string'
            ? { name: columnName, type: 'text', pattern: detail.Pattern, missing }
            : { name: columnName, type: 'text', minLength: Number(detail.min_length ?? 1), maxLength: Number(detail.max_length ?? 20), missing },
        );
        break;
      case 'empty':
        columns.push({ name: columnName, type: 'text', minLength: 0, maxLength: 0, missing: 1 });
        break;
    }
  });

  if (problems.length > 0) throw new SpecError(problems);
  return parseSynthSpec({ name: name ?? tableName!.replace(/[^A-Za-z0-9_.-]+/g, '_'), seed: 0, tables: [{ name: tableName, rows, columns }] });
}
