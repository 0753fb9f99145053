/**
 * Imports summary-statistics table definitions as the Behavioural Insights Team's library writes them
 * (`Table.dictionary_out`, its SRS variant, and `convert_from_srs.py`'s output), and seed 000's notes:
 *   { Table_name, Table_type?, Number_of_rows, Column_details: [ { Name, Type, … } ] }
 * Types (case-insensitive; `"text"` with its quotes, as convert_from_srs can leave it, is text):
 *   numeric      mean, standard_deviation, minimum, maximum, is_integer (true/false or "True"/"False"),
 *                decimal_precision, missing_value_freq (a fraction, or a count when above 1),
 *                averaged_max_and_min, # of values in average_max_min; SRS: count for …, Disclosure
 *   categorical  flat { value: proportion } (BIT; `nan` the missing share; SRS adds Counts, Disclosure,
 *                Note), or seed 000's Values: { value: count } where a suppressed count (null or text
 *                such as "<10") counts as 5
 *   date, datetime, time  earliest, latest (written in `format`, or ISO), format (strftime.ts; BIT's
 *                defaults %Y-%m-%d, %Y-%m-%d %X, %X), missing_value_freq, averaged_max_and_min, # of values…
 *   text         Pattern true: character_number_0 … N-1 (per-position character proportions), Max_length;
 *                Pattern false: Min_length, Max_length; seed 000: Pattern as a regex, or min_length,
 *                max_length; all_values (convert_from_srs) is accepted and ignored
 *   empty        every value missing (all_values: "NaN")
 * Numbers may arrive as numeric strings. Statistics that contradict each other (an sd the range cannot
 * hold, a mean outside [min, max], min above max, earliest after latest, proportions not summing to 1)
 * are warnings; numeric draws outside [min, max] are clamped to it, as BIT's generator does.
 * The seed's plausible id columns are generated with its rules whatever their Type (unless empty), and
 * QA tests them as the Type the file gave them (BIT's QA does):
 *   Project_Row_ID row numbers; Anon_Pupil_ID unique 4–7 digits; Anon_School_ID 4–6 digits shared by
 *   groups of max(5, min(rows/50, 250)); Anon_Teacher_ID 1–2 digits, max(5, min(rows/100, 80));
 *   Anon_Class_ID 1–3 digits, max(5, min(rows/100, 500)). Ids have no leading zero.
 * Unknown keys or types are errors naming their path.
 */
import { type ColumnSpec, parseDate, parseSynthSpec, PROBABILITY_TOLERANCE, SpecError, type SynthSpec } from '../spec';
import { parseStrftime, unknownStrftimeCodes } from '../strftime';

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A suppressed count is somewhere in 1..9; its midpoint stands in for it. */
export const SUPPRESSED_COUNT = 5;

/** BIT's disclosure threshold: min/max are averages of this many extreme values, and no fewer. */
export const BIT_DISCLOSURE_THRESHOLD = 10;

export const SEED_ID_COLUMNS: Record<string, ColumnSpec> = {
  Project_Row_ID: { name: 'Project_Row_ID', type: 'id', format: { kind: 'row-number', start: 1 }, primaryKey: false, missing: 0 },
  Anon_Pupil_ID: { name: 'Anon_Pupil_ID', type: 'id', format: { kind: 'digits', minLength: 4, maxLength: 7 }, primaryKey: true, missing: 0 },
  Anon_School_ID: { name: 'Anon_School_ID', type: 'grouped-id', format: { kind: 'digits', minLength: 4, maxLength: 6 }, groupSize: 'int(max(5, min(rows / 50, 250)))', missing: 0 },
  Anon_Teacher_ID: { name: 'Anon_Teacher_ID', type: 'grouped-id', format: { kind: 'digits', minLength: 1, maxLength: 2 }, groupSize: 'int(max(5, min(rows / 100, 80)))', missing: 0 },
  Anon_Class_ID: { name: 'Anon_Class_ID', type: 'grouped-id', format: { kind: 'digits', minLength: 1, maxLength: 3 }, groupSize: 'int(max(5, min(rows / 100, 500)))', missing: 0 },
};

const AVERAGING = ['averaged_max_and_min', '# of values in average_max_min'];
const DATE_KEYS = ['earliest', 'latest', 'format', 'missing_value_freq', ...AVERAGING, 'Disclosure'];
const KNOWN: Record<string, string[]> = {
  numeric: ['mean', 'standard_deviation', 'minimum', 'maximum', 'is_integer', 'decimal_precision', 'missing_value_freq', ...AVERAGING, 'Disclosure'],
  categorical: [],
  date: DATE_KEYS,
  datetime: DATE_KEYS,
  time: DATE_KEYS,
  text: ['Pattern', 'Max_length', 'Min_length', 'max_length', 'min_length', 'missing_value_freq', 'all_values'],
  empty: ['all_values'],
};
/** Keys of a flat categorical column that are not values. */
const CATEGORICAL_METADATA = ['Counts', 'Disclosure', 'Note'];
const SEED_CATEGORICAL_KEYS = ['Values', 'missing_value_freq'];
const MISSING_VALUES = new Set(['nan', 'NaN', '']);
const DEFAULT_FORMATS: Record<string, string> = { date: '%Y-%m-%d', datetime: '%Y-%m-%d %X', time: '%X' };
const CHARACTER_KEY = /^character_number_(\d+)$/;
const MAX_PRECISION = 10;

const isKnownKey = (type: string, key: string): boolean =>
  key === 'Name' || key === 'Type' || KNOWN[type]!.includes(key) || key.startsWith('count for ') || (type === 'text' && CHARACTER_KEY.test(key));

const isoOf = (time: number): string => new Date(time).toISOString().slice(0, 19);

export function importSummaryStatistics(document: unknown, options: { name?: string; warnings?: string[] } | string = {}): SynthSpec {
  const name = typeof options === 'string' ? options : options.name;
  const warnings = typeof options === 'string' ? [] : (options.warnings ?? []);
  const problems: string[] = [];
  const problem = (path: string, message: string): void => void problems.push(`${path}: ${message}`);
  const warn = (path: string, message: string): void => void warnings.push(`${path}: ${message}`);

  /** A number, or a string holding one (convert_from_srs leaves some as text). */
  const numberAt = (value: unknown, path: string): number => {
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    if (!Number.isFinite(n)) problem(path, `must be a number, not ${JSON.stringify(value)}`);
    return n;
  };
  /** true/false, or the strings "True"/"False" (convert_from_srs writes is_integer that way). */
  const booleanAt = (value: unknown, path: string): boolean => {
    if (typeof value === 'boolean') return value;
    const text = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
    if (text === 'true') return true;
    if (text === 'false') return false;
    problem(path, `must be true or false (or "True"/"False"), not ${JSON.stringify(value)}`);
    return false;
  };

  if (!isRecord(document)) throw new SpecError(['(root): expected { Table_name, Number_of_rows, Column_details }']);
  for (const key of Object.keys(document)) if (!['Table_name', 'Table_type', 'Number_of_rows', 'Column_details'].includes(key)) problem(key, 'is not a summary-statistics key');
  const tableName = typeof document.Table_name === 'string' && document.Table_name.trim() ? document.Table_name.trim() : undefined;
  if (!tableName) problem('Table_name', 'must be a non-empty string');
  if (document.Table_type !== undefined && typeof document.Table_type !== 'string') problem('Table_type', 'must be a string');
  const rows = numberAt(document.Number_of_rows, 'Number_of_rows');
  if (Number.isFinite(rows) && !(Number.isInteger(rows) && rows >= 0)) problem('Number_of_rows', `must be a whole number ≥ 0, not ${rows}`);
  if (!Array.isArray(document.Column_details)) problem('Column_details', 'must be a list');

  const missingAt = (detail: Record<string, unknown>, at: string): number => {
    if (detail.missing_value_freq === undefined || detail.missing_value_freq === null) return 0;
    let missing = numberAt(detail.missing_value_freq, `${at}.missing_value_freq`);
    if (missing > 1 && rows > 0) missing = missing / rows; // seed 000's notes may give a count
    if (Number.isFinite(missing) && !(missing >= 0 && missing <= 1)) problem(`${at}.missing_value_freq`, 'must be a fraction or a count of rows');
    return missing;
  };

  /** BIT's averaged extremes: checked as BIT's reader checks them, but a warning rather than a refusal. */
  const averagingAt = (detail: Record<string, unknown>, at: string): boolean => {
    const averaged = detail.averaged_max_and_min === undefined || detail.averaged_max_and_min === null ? false : booleanAt(detail.averaged_max_and_min, `${at}.averaged_max_and_min`);
    const count = detail['# of values in average_max_min'];
    if (count !== undefined && count !== null) {
      const n = numberAt(count, `${at}.# of values in average_max_min`);
      if (n < BIT_DISCLOSURE_THRESHOLD) warn(`${at}.# of values in average_max_min`, `${n} is below BIT's disclosure threshold of ${BIT_DISCLOSURE_THRESHOLD} (BIT's reader refuses such a file)`);
    }
    return averaged;
  };

  const columns: ColumnSpec[] = [];
  (Array.isArray(document.Column_details) ? document.Column_details : []).forEach((detail: unknown, index) => {
    const at = `Column_details[${index}]`;
    if (!isRecord(detail) || (typeof detail.Name !== 'string' && typeof detail.Name !== 'number')) {
      problem(at, 'needs a Name');
      return;
    }
    const columnName = String(detail.Name);
    const type = String(detail.Type ?? '').trim().replace(/^"(.*)"$/, '$1').toLowerCase();
    if (!KNOWN[type]) {
      problem(`${at}.Type`, `"${String(detail.Type)}" is not a supported type (${Object.keys(KNOWN).join(', ')})`);
      return;
    }
    const seedForm = type === 'categorical' && 'Values' in detail;
    for (const key of Object.keys(detail)) {
      if (type === 'categorical' ? seedForm && !SEED_CATEGORICAL_KEYS.includes(key) && key !== 'Name' && key !== 'Type' : !isKnownKey(type, key)) {
        problem(`${at}.${key}`, `is not a key of a ${type} column`);
      }
    }
    const seedId = SEED_ID_COLUMNS[columnName];
    if (type !== 'empty' && seedId) {
      const qa = type === 'numeric' ? 'numeric' : type === 'categorical' ? 'categorical' : undefined;
      columns.push(qa && (seedId.type === 'id' || seedId.type === 'grouped-id') ? { ...seedId, qa } : seedId);
      return;
    }
    const missing = missingAt(detail, at);

    switch (type) {
      case 'numeric':
        columns.push(...numericColumn(columnName, detail, at, missing));
        break;
      case 'categorical':
        columns.push(...(seedForm ? seedCategorical(columnName, detail, at, missing) : flatCategorical(columnName, detail, at)));
        break;
      case 'date':
      case 'datetime':
      case 'time':
        columns.push(...dateColumn(columnName, type, detail, at, missing));
        break;
      case 'text':
        columns.push(...textColumn(columnName, detail, at, missing));
        break;
      case 'empty':
        columns.push({ name: columnName, type: 'text', minLength: 0, maxLength: 0, missing: 1 });
        break;
    }
  });

  function numericColumn(columnName: string, detail: Record<string, unknown>, at: string, missing: number): ColumnSpec[] {
    const mean = numberAt(detail.mean, `${at}.mean`);
    const sd = numberAt(detail.standard_deviation, `${at}.standard_deviation`);
    let min = numberAt(detail.minimum, `${at}.minimum`);
    let max = numberAt(detail.maximum, `${at}.maximum`);
    const integer = detail.is_integer === undefined ? false : booleanAt(detail.is_integer, `${at}.is_integer`);
    let precision = detail.decimal_precision === undefined || detail.decimal_precision === null ? undefined : numberAt(detail.decimal_precision, `${at}.decimal_precision`);
    const averaged = averagingAt(detail, at);
    if (![mean, sd, min, max].every(Number.isFinite)) return [];
    if (sd < 0) {
      problem(`${at}.standard_deviation`, `must not be negative, not ${sd}`);
      return [];
    }
    if (precision !== undefined && Number.isFinite(precision)) {
      if (!(Number.isInteger(precision) && precision >= 0)) problem(`${at}.decimal_precision`, `must be a whole number ≥ 0, not ${precision}`);
      else if (precision > MAX_PRECISION) {
        warn(`${at}.decimal_precision`, `${precision} decimals written as ${MAX_PRECISION}`);
        precision = MAX_PRECISION;
      }
    }
    if (min > max) {
      warn(`${at}.minimum`, `minimum ${min} is above maximum ${max}; the two are swapped`);
      [min, max] = [max, min];
    }
    const why = averaged ? ` (min and max are averages of the ${BIT_DISCLOSURE_THRESHOLD} most extreme values, so the real range is wider)` : '';
    if (mean < min || mean > max) {
      warn(`${at}.mean`, `mean ${mean} is outside [${min}, ${max}]${why}; draws are clamped to that range, as BIT's generator does, so the generated mean lies inside it`);
    } else {
      // No distribution on [min, max] with this mean has a larger sd (Bhatia–Davis).
      const largest = Math.sqrt((max - mean) * (mean - min));
      if (sd > largest * (1 + 1e-6) + 1e-12) {
        warn(`${at}.standard_deviation`, `sd ${sd} is larger than any distribution on [${min}, ${max}] with mean ${mean} can have (${+largest.toPrecision(6)})${why}; draws are clamped to that range, as BIT's generator does, so the generated sd is smaller`);
      }
    }
    const kind = integer ? 'integer' : 'float';
    const decimals = precision !== undefined && !integer && Number.isInteger(precision) && precision >= 0 ? { precision } : {};
    if (sd === 0 || min === max) {
      let value = Math.min(max, Math.max(min, mean));
      if (integer) value = Math.round(value);
      return [{ name: columnName, type: 'numeric', kind, distribution: 'uniform', min: value, max: value, ...decimals, missing }];
    }
    return [{ name: columnName, type: 'numeric', kind, distribution: 'normal', mean, sd, min, max, outOfRange: 'clamp', ...decimals, missing }];
  }

  function normalised(columnName: string, at: string, present: Array<readonly [string, number]>, missingShare: number, total: number): ColumnSpec[] {
    const presentTotal = present.reduce((sum, [, p]) => sum + p, 0);
    if (present.length === 0 || presentTotal <= 0) {
      problem(at, 'has no value other than nan with a proportion above 0');
      return [];
    }
    const values = Object.fromEntries(present.map(([value, p]) => [value, p / presentTotal]));
    return [{ name: columnName, type: 'categorical', values, missing: total > 0 ? missingShare / total : 0 }];
  }

  function flatCategorical(columnName: string, detail: Record<string, unknown>, at: string): ColumnSpec[] {
    const entries: Array<readonly [string, number]> = [];
    for (const [key, value] of Object.entries(detail)) {
      if (key === 'Name' || key === 'Type' || CATEGORICAL_METADATA.includes(key)) continue;
      const proportion = numberAt(value, `${at}.${key}`);
      if (Number.isFinite(proportion) && proportion < 0) problem(`${at}.${key}`, `a proportion cannot be negative (${proportion})`);
      if (Number.isFinite(proportion) && proportion >= 0) entries.push([key, proportion]);
    }
    if (detail.Counts !== undefined && !isRecord(detail.Counts)) problem(`${at}.Counts`, 'must map each value to its count');
    if (detail.Disclosure !== undefined) booleanAt(detail.Disclosure, `${at}.Disclosure`);
    const total = entries.reduce((sum, [, p]) => sum + p, 0);
    if (entries.length > 0 && Math.abs(total - 1) > PROBABILITY_TOLERANCE) warn(at, `proportions sum to ${+total.toPrecision(6)}, not 1; rescaled, as BIT's generator does`);
    // Values suppressed for disclosure (proportion 0 in the SRS variant) are never drawn.
    const present = entries.filter(([value, p]) => !MISSING_VALUES.has(value) && p > 0);
    const missingShare = entries.filter(([value]) => MISSING_VALUES.has(value)).reduce((sum, [, p]) => sum + p, 0);
    return normalised(columnName, at, present, missingShare, total);
  }

  function seedCategorical(columnName: string, detail: Record<string, unknown>, at: string, missing: number): ColumnSpec[] {
    if (!isRecord(detail.Values)) {
      problem(`${at}.Values`, 'must map each value to its frequency');
      return [];
    }
    const counts = Object.entries(detail.Values).map(([value, frequency]) => {
      const count = typeof frequency === 'number' ? frequency : Number.isFinite(Number(frequency)) && frequency !== null && frequency !== '' ? Number(frequency) : SUPPRESSED_COUNT;
      return [value, count] as const;
    });
    const total = counts.reduce((sum, [, count]) => sum + count, 0);
    const missingCount = counts.filter(([value]) => MISSING_VALUES.has(value)).reduce((sum, [, count]) => sum + count, 0);
    const present = counts.filter(([value, count]) => !MISSING_VALUES.has(value) && count > 0);
    const [column] = normalised(columnName, `${at}.Values`, present, missingCount, total);
    if (!column || column.type !== 'categorical') return [];
    return [{ ...column, missing: missingCount > 0 ? column.missing : missing }];
  }

  function dateColumn(columnName: string, type: string, detail: Record<string, unknown>, at: string, missing: number): ColumnSpec[] {
    averagingAt(detail, at);
    const given = typeof detail.format === 'string' && detail.format.trim() !== '' ? detail.format : undefined;
    if (detail.format !== undefined && detail.format !== null && typeof detail.format !== 'string') problem(`${at}.format`, 'must be a strftime format');
    const format = given ?? DEFAULT_FORMATS[type]!;
    const unknownCodes = unknownStrftimeCodes(format);
    if (unknownCodes.length > 0) {
      problem(`${at}.format`, `"${format}" uses strftime codes this importer does not know: ${unknownCodes.join(' ')}`);
      return [];
    }
    const instant = (key: 'earliest' | 'latest'): number | undefined => {
      const text = detail[key];
      if (typeof text !== 'string') {
        problem(`${at}.${key}`, `must be a ${type} written as "${format}"`);
        return undefined;
      }
      // BIT writes the bounds in the column's format; seed 000's notes write them in ISO.
      const time = parseStrftime(text, format) ?? parseDate(text);
      if (time === undefined) problem(`${at}.${key}`, `"${text}" is not a ${type} written as "${format}" (or ISO)`);
      return time;
    };
    let from = instant('earliest');
    let to = instant('latest');
    if (from === undefined || to === undefined) return [];
    if (from > to) {
      warn(`${at}.earliest`, `earliest ${String(detail.earliest)} is after latest ${String(detail.latest)}; the two are swapped`);
      [from, to] = [to, from];
    }
    // BIT draws any instant between the bounds and writes it in the format; a date column draws days.
    return [{ name: columnName, type: 'date', from: isoOf(from), to: isoOf(to), datetime: type !== 'date', format, missing }];
  }

  function textColumn(columnName: string, detail: Record<string, unknown>, at: string, missing: number): ColumnSpec[] {
    const pattern = detail.Pattern;
    const patterned = pattern === true || (typeof pattern === 'string' && pattern.trim().toLowerCase() === 'true');
    const unpatterned = pattern === false || (typeof pattern === 'string' && pattern.trim().toLowerCase() === 'false');
    if (typeof pattern === 'string' && !patterned && !unpatterned) return [{ name: columnName, type: 'text', pattern, missing }];
    if (pattern !== undefined && pattern !== null && typeof pattern !== 'string' && typeof pattern !== 'boolean') problem(`${at}.Pattern`, 'must be true, false or a pattern');
    const positions = Object.entries(detail)
      .flatMap(([key, value]) => {
        const match = CHARACTER_KEY.exec(key);
        return match ? [{ key, index: Number(match[1]), value }] : [];
      })
      .sort((a, b) => a.index - b.index);
    if (patterned) {
      if (positions.length === 0) {
        problem(`${at}.character_number_0`, 'a patterned text column needs its per-position character proportions');
        return [];
      }
      const characters = positions.map(({ key, value }, i) => {
        if (positions[i]!.index !== i) problem(`${at}.${key}`, `positions must run 0, 1, 2, …; character_number_${i} is missing`);
        if (!isRecord(value)) {
          problem(`${at}.${key}`, 'must map each character to its proportion');
          return {};
        }
        const weights: Record<string, number> = {};
        for (const [char, proportion] of Object.entries(value)) {
          const n = numberAt(proportion, `${at}.${key}.${char}`);
          if (char.length !== 1) problem(`${at}.${key}`, `"${char}" is not a single character`);
          if (Number.isFinite(n) && n < 0) problem(`${at}.${key}.${char}`, 'a proportion cannot be negative');
          weights[char] = n;
        }
        if (!Object.values(weights).some((n) => n > 0)) problem(`${at}.${key}`, 'has no character with a proportion above 0');
        return weights;
      });
      if (detail.Max_length !== undefined) {
        const length = numberAt(detail.Max_length, `${at}.Max_length`);
        if (Number.isFinite(length) && length !== characters.length) warn(`${at}.Max_length`, `${length}, but there are ${characters.length} positions; the text has ${characters.length} characters`);
      }
      return [{ name: columnName, type: 'text', characters, missing }];
    }
    if (positions.length > 0) problem(`${at}.${positions[0]!.key}`, 'per-position proportions need Pattern: true');
    const bound = (keys: string[], fallback: number): number => {
      const key = keys.find((candidate) => detail[candidate] !== undefined && detail[candidate] !== null);
      return key === undefined ? fallback : numberAt(detail[key], `${at}.${key}`);
    };
    let minLength = bound(['Min_length', 'min_length'], 1);
    let maxLength = bound(['Max_length', 'max_length'], 20);
    if (minLength > maxLength) {
      warn(`${at}.Min_length`, `Min_length ${minLength} is above Max_length ${maxLength}; the two are swapped`);
      [minLength, maxLength] = [maxLength, minLength];
    }
    return [{ name: columnName, type: 'text', minLength, maxLength, missing }];
  }

  if (problems.length > 0) throw new SpecError(problems);
  return parseSynthSpec({ name: name ?? specNameOf(tableName!), seed: 0, tables: [{ name: tableName, rows, columns }] });
}

/** A spec name (letters, digits, _ . -) from a table name such as "Pupil outcomes (2023)". */
function specNameOf(tableName: string): string {
  const cleaned = tableName.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 100);
  return cleaned || 'table';
}
