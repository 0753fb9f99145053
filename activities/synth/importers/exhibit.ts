/**
 * Imports an exhibit YAML spec (already parsed, YAML 1.1) into a synthetic data spec, as exhibit's own
 * samples and `exhibit fromdata` write them. See README "Importers" for the mapping; in short:
 *
 * - metadata: number_of_rows, random_seed, id (the table name) and the column lists (checked);
 *   inline_limit, geospatial_columns (empty) are informational.
 * - uuid: frequency_distribution `frequency | probability_vector` (all 1: a primary key; otherwise ids
 *   repeating exactly as exhibit lays them out: native `frequencies`), miss_probability, anonymising_set uuid|range, uuid_seed;
 *   ids are 32 hex digits without hyphens, as exhibit writes them.
 * - categorical: original_values pipe table (value | paired_<col>… | probability_vector | weight columns
 *   of numerical columns), a `Missing data` row (short rows padded), `See paired column`, values beyond
 *   the inline limit read from exhibit's anonymisation database (SQLite, `anonDb` option); probability
 *   vectors not summing to 1 are rescaled with a warning; dispersion (of categories) must be 0.
 * - continuous: precision, weighted_uniform (→ weighted: per-category weights, dispersion; scaled to
 *   target_sum as the total, rounded as exhibit rounds, else to target_min..target_max) or normal (mean shifted by the weights,
 *   then scaled to target_sum as exhibit does).
 * - date: from, to or uniques, frequency (pandas aliases).
 * - cross_join_all_unique_values on categorical and date columns (native crossJoin): rows / K × K rows, as exhibit makes.
 * - linked_columns: child columns paired to their parent from the database's linked table.
 * - constraints: allow_duplicates (false: rows repeating the non-numerical columns are dropped), basic_constraints `a >= b`,
 *   custom_constraints (filter, partition, targets; the actions in custom-constraints.ts, others an error).
 * - derived_columns: pandas expressions (`los.div(stays).round(2)`, `a / b`) translated.
 * Anything else is an error naming its key: nothing is skipped silently.
 */
import { existsSync } from 'node:fs';

import { Database } from 'node-sqlite3-wasm';

import { lastOfSteps } from '../calendar';
import { compileExpression } from '../expression';
import { type ColumnOf, type ColumnSpec, crossJoinCount, CUSTOM_ACTIONS, type CustomAction, parseSynthSpec, SpecError, type SynthSpec, type TableSpec } from '../spec';
import { parsePipeTable } from './pipe-table';

type Record_ = Record<string, unknown>;
type DateFrequency = NonNullable<ColumnOf<'date'>['frequency']>;

export interface ImportOptions {
  /** Spec name; the exhibit id otherwise. */
  name?: string;
  /** exhibit's anonymisation database (exhibit/db/exhibit.db), for values beyond the inline limit and linked columns. */
  anonDb?: string;
  /** Non-fatal notes (rescaled probabilities, approximations) are pushed here. */
  warnings?: string[];
}

const isRecord = (value: unknown): value is Record_ => typeof value === 'object' && value !== null && !Array.isArray(value);
const isEmpty = (value: unknown): boolean => value === undefined || value === null || (Array.isArray(value) && value.length === 0) || (isRecord(value) && Object.keys(value).length === 0);

/** pandas offset aliases → the native frequencies (anchored quarter/year aliases such as QS-JAN too). */
export function dateFrequency(alias: string): DateFrequency | undefined {
  const base = alias.trim().replace(/-[A-Z]{3}$/, '');
  const table: Record<string, DateFrequency> = {
    D: 'D', B: 'D', W: 'W', MS: 'MS', QS: 'QS', YS: 'YS', AS: 'YS', BYS: 'YS',
    M: 'ME', ME: 'ME', Q: 'QE', QE: 'QE', Y: 'YE', A: 'YE', YE: 'YE', H: 'H', h: 'H',
  };
  return table[base];
}

const KNOWN_KEYS: Record<string, string[]> = {
  uuid: ['type', 'name', 'frequency_distribution', 'miss_probability', 'anonymising_set', 'uuid_seed'],
  categorical: ['type', 'name', 'original_values', 'paired_columns', 'uniques', 'miss_probability', 'anonymising_set', 'dispersion', 'cross_join_all_unique_values'],
  continuous: ['type', 'name', 'precision', 'distribution', 'distribution_parameters', 'miss_probability', 'scaling', 'scaling_parameters'],
  date: ['type', 'name', 'from', 'to', 'uniques', 'frequency', 'miss_probability', 'cross_join_all_unique_values'],
};
const METADATA_KEYS = ['number_of_rows', 'random_seed', 'id', 'uuid_columns', 'categorical_columns', 'numerical_columns', 'date_columns', 'geospatial_columns', 'inline_limit'];
const ABOVE_LIMIT = /^Number of unique values is above (inline limit|category threshold)/;
const MISSING = 'Missing data';

/** pandas method chains in derived columns (`los.div(stays).round(2)`) as native expressions. */
export function translatePandasExpression(text: string): string {
  const methods: Record<string, string> = { div: '/', truediv: '/', mul: '*', add: '+', sub: '-', floordiv: '//', pow: '**' };
  let expression = text.trim();
  // Repeatedly rewrite the innermost `x.method(args)` where x is a name, number or parenthesised group.
  const pattern = /(\([^()]*\)|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?)\.(div|truediv|mul|add|sub|floordiv|pow|round|abs)\(([^()]*)\)/;
  for (let guard = 0; guard < 100 && pattern.test(expression); guard++) {
    expression = expression.replace(pattern, (_, subject: string, method: string, args: string) => {
      if (method === 'round') return `round(${subject}${args.trim() ? `, ${args.trim()}` : ''})`;
      if (method === 'abs') return `abs(${subject})`;
      if (method === 'floordiv') return `floor(${subject} / (${args.trim()}))`;
      return `(${subject} ${methods[method]} ${args.trim()})`;
    });
  }
  return expression;
}

class AnonDb {
  private db?: Database;
  constructor(private readonly path: string | undefined) {}

  rows(table: string, at: string): Array<Record<string, unknown>> {
    if (!this.path) throw new Error(`${at}: values are held in exhibit's anonymisation database; give its path (anonDb, --anon-db)`);
    if (!existsSync(this.path)) throw new Error(`${at}: anonymisation database ${this.path} does not exist`);
    this.db ??= new Database(this.path, { readOnly: true });
    const exists = this.db.all('SELECT name FROM sqlite_master WHERE type = ? AND name = ?', ['table', table]);
    if (exists.length === 0) throw new Error(`${at}: the anonymisation database has no table "${table}"`);
    return this.db.all(`SELECT * FROM "${table.replace(/"/g, '""')}"`) as Array<Record<string, unknown>>;
  }

  close(): void {
    this.db?.close();
  }
}

export function importExhibitSpec(document: unknown, options: ImportOptions | string = {}): SynthSpec {
  const settings: ImportOptions = typeof options === 'string' ? { name: options } : options;
  const warnings = settings.warnings ?? [];
  const problems: string[] = [];
  const problem = (path: string, message: string): void => void problems.push(`${path}: ${message}`);
  if (!isRecord(document)) throw new SpecError(['(root): an exhibit spec is a mapping with metadata and columns']);
  const crossJoinOf = (definition: Record_, at: string): { crossJoin?: true } => {
    const flag = definition.cross_join_all_unique_values;
    if (flag !== undefined && flag !== null && typeof flag !== 'boolean') problem(at, 'must be true or false');
    return flag === true ? { crossJoin: true } : {};
  };
  const metadata = isRecord(document.metadata) ? document.metadata : {};
  if (!isRecord(document.metadata)) problem('metadata', 'missing');
  const columnsIn = isRecord(document.columns) ? document.columns : {};
  if (!isRecord(document.columns)) problem('columns', 'missing');
  for (const key of Object.keys(document)) {
    if (!['metadata', 'columns', 'constraints', 'derived_columns', 'linked_columns', 'models'].includes(key)) problem(key, 'is not part of the supported exhibit subset');
  }
  for (const key of Object.keys(metadata)) if (!METADATA_KEYS.includes(key)) problem(`metadata.${key}`, 'is not part of the supported exhibit subset');
  if (!isEmpty(metadata.geospatial_columns)) problem('metadata.geospatial_columns', 'geospatial columns are not supported');
  if (!isEmpty(document.models)) problem('models', 'ML models are not supported');

  const rows = metadata.number_of_rows;
  if (typeof rows !== 'number' || !Number.isInteger(rows)) problem('metadata.number_of_rows', 'must be an integer');
  const rowCount = typeof rows === 'number' ? rows : 0;
  const seed = typeof metadata.random_seed === 'number' ? metadata.random_seed : 0;
  const id = metadata.id === undefined || metadata.id === null ? 'exhibit' : String(metadata.id);
  const tableName = id.replace(/[^A-Za-z0-9_.-]+/g, '_') || 'exhibit';
  const db = new AnonDb(settings.anonDb);

  const columns = new Map<string, ColumnSpec>();
  /** weight columns of original_values: numeric column → categorical column → value → weight */
  const numericWeights = new Map<string, Record<string, Record<string, number>>>();
  const pairedLookups = new Map<string, { source: string; lookup: Record<string, string> }>();
  const categoricalOrder: string[] = [];
  // Each linked group's columns, in the order exhibit writes them (first, before the other columns).
  const linkedGroups: string[][] = [];

  try {
    for (const [columnName, definition] of Object.entries(columnsIn)) {
      const at = `columns.${columnName}`;
      if (!isRecord(definition)) {
        problem(at, 'must be a mapping');
        continue;
      }
      const type = String(definition.type);
      const known = KNOWN_KEYS[type];
      if (!known) {
        problem(`${at}.type`, `type "${type}" is not supported (uuid, categorical, continuous, date)`);
        continue;
      }
      for (const key of Object.keys(definition)) if (!known.includes(key)) problem(`${at}.${key}`, 'is not part of the supported exhibit subset');
      if (definition.name !== undefined && definition.name !== null && String(definition.name) !== columnName) problem(`${at}.name`, `"${String(definition.name)}" differs from the column key`);
      const missing = Number(definition.miss_probability ?? 0);
      if (!(missing >= 0 && missing <= 1)) problem(`${at}.miss_probability`, 'must be between 0 and 1');

      if (type === 'uuid') {
        const anonymising = definition.anonymising_set ?? 'uuid';
        if (anonymising !== 'uuid' && anonymising !== 'range') problem(`${at}.anonymising_set`, 'only "uuid" or "range" is supported');
        let meanFrequency = 1;
        let frequencies: Record<string, number> = {};
        try {
          const table = parsePipeTable(definition.frequency_distribution ?? ['frequency | probability_vector', '1 | 1.0'], `${at}.frequency_distribution`);
          const pairs = table.rows.map((row) => [Number(row[0]), Number(row[1] ?? 0)] as const);
          if (pairs.some(([f, p]) => !(f >= 1) || !Number.isFinite(p) || p < 0)) throw new Error(`${at}.frequency_distribution: frequencies ≥ 1 with probabilities ≥ 0 expected`);
          const total = pairs.reduce((sum, [, p]) => sum + p, 0);
          if (!(total > 0)) throw new Error(`${at}.frequency_distribution: probabilities sum to 0`);
          if (Math.abs(total - 1) > 0.001) warnings.push(`${at}.frequency_distribution: probabilities sum to ${total}; rescaled to 1 as exhibit does`);
          meanFrequency = pairs.reduce((sum, [f, p]) => sum + (f * p) / total, 0);
          if (pairs.some(([f]) => !Number.isInteger(f))) throw new Error(`${at}.frequency_distribution: frequencies must be whole numbers`);
          for (const [f, p] of pairs) frequencies[String(f)] = (frequencies[String(f)] ?? 0) + p / total;
        } catch (err) {
          problem(`${at}.frequency_distribution`, (err as Error).message.replace(`${at}.frequency_distribution: `, ''));
        }
        const format = anonymising === 'range' ? ({ kind: 'row-number', start: 1 } as const) : ({ kind: 'uuid', prefix: '', hyphens: false } as const);
        const ownSeed = typeof definition.uuid_seed === 'number' ? { seed: definition.uuid_seed } : {};
        if (meanFrequency === 1 && missing === 0) {
          columns.set(columnName, { name: columnName, type: 'id', primaryKey: true, format, ...ownSeed, missing: 0 });
        } else if (meanFrequency === 1) {
          columns.set(columnName, { name: columnName, type: 'id', primaryKey: false, format, ...ownSeed, missing });
        } else {
          // exhibit's layout: per frequency f with share p, ⌈rows × p / f⌉ ids repeated f times, rows shuffled.
          columns.set(columnName, { name: columnName, type: 'id', primaryKey: false, format, frequencies, ...ownSeed, missing });
        }
      } else if (type === 'categorical') {
        if ((definition.anonymising_set ?? 'random') !== 'random') problem(`${at}.anonymising_set`, 'only "random" is supported');
        if (Number(definition.dispersion ?? 0) !== 0) problem(`${at}.dispersion`, 'only 0 is supported for categorical columns');
        categoricalOrder.push(columnName);
        if (definition.original_values === 'See paired column') {
          columns.set(columnName, { name: columnName, type: 'paired', source: '', lookup: {}, missing: 0 }); // filled in below
          continue;
        }
        try {
          let header: string[];
          let tableRows: string[][];
          if (typeof definition.original_values === 'string' && ABOVE_LIMIT.test(definition.original_values)) {
            const dbRows = db.rows(`temp_${id}_${columnName}`, `${at}.original_values`);
            header = Object.keys(dbRows[0] ?? { [columnName]: '' });
            tableRows = dbRows.map((row) => header.map((key) => String(row[key] ?? '')));
            const share = String(1 / Math.max(1, tableRows.length));
            header.push('probability_vector');
            tableRows = tableRows.map((row) => [...row, share]);
            if (missing > 0) tableRows.push([MISSING, ...header.slice(1, -1).map(() => MISSING), String(missing)]);
          } else {
            ({ header, rows: tableRows } = parsePipeTable(definition.original_values, `${at}.original_values`, { padShortRows: true }));
          }
          const probabilityIndex = header.indexOf('probability_vector');
          if (probabilityIndex < 0) throw new Error(`${at}.original_values: the header has no probability_vector`);
          const values: Record<string, number> = {};
          let missingRow = 0;
          for (const row of tableRows) {
            const probability = Number(row[probabilityIndex] || 0);
            if (!Number.isFinite(probability) || probability < 0) throw new Error(`${at}.original_values: "${row[probabilityIndex]}" is not a probability`);
            if (row[0] === MISSING) missingRow = probability;
            else values[row[0]!] = (values[row[0]!] ?? 0) + probability;
          }
          const total = Object.values(values).reduce((sum, p) => sum + p, 0) + missingRow;
          if (!(total > 0)) throw new Error(`${at}.original_values: every probability is 0`);
          if (Math.abs(total - 1) > 0.001) warnings.push(`${at}.original_values: probabilities sum to ${Number(total.toFixed(6))}; rescaled to 1 as exhibit does`);
          const present = total - missingRow;
          if (present <= 0) throw new Error(`${at}.original_values: every row is Missing data`);
          for (const key of Object.keys(values)) values[key] = values[key]! / present;
          const missingShare = missingRow > 0 ? missingRow / total : missing;
          columns.set(columnName, { name: columnName, type: 'categorical', values, missing: missingShare, ...crossJoinOf(definition, `${at}.cross_join_all_unique_values`) });
          header.forEach((name, index) => {
            if (index === 0 || index === probabilityIndex) return;
            if (name.startsWith('paired_')) {
              const lookup: Record<string, string> = {};
              for (const row of tableRows) if (row[0] !== MISSING) lookup[row[0]!] = row[index]!;
              pairedLookups.set(name.slice('paired_'.length), { source: columnName, lookup });
              return;
            }
            // A weight column of a numerical column.
            const byValue: Record<string, number> = {};
            for (const row of tableRows) {
              if (row[0] === MISSING) continue;
              const weight = Number(row[index] || 0);
              if (!Number.isFinite(weight) || weight < 0) throw new Error(`${at}.original_values: weight "${row[index]}" of ${name} is not a number ≥ 0`);
              byValue[row[0]!] = weight;
            }
            const weights = numericWeights.get(name) ?? {};
            weights[columnName] = byValue;
            numericWeights.set(name, weights);
          });
        } catch (err) {
          problem(`${at}.original_values`, (err as Error).message.replace(`${at}.original_values: `, ''));
        }
      } else if (type === 'continuous') {
        const parameters = isRecord(definition.distribution_parameters) ? definition.distribution_parameters : {};
        const p = `${at}.distribution_parameters`;
        for (const key of Object.keys(parameters)) {
          if (!['target_min', 'target_max', 'target_mean', 'target_std', 'target_sum', 'dispersion', 'uniform_base_value'].includes(key)) problem(`${p}.${key}`, 'is not part of the supported exhibit subset');
        }
        if (!isEmpty(definition.scaling) && definition.scaling !== 'target_sum' && definition.scaling !== 'range') problem(`${at}.scaling`, 'is not supported');
        if (!isEmpty(definition.scaling_parameters)) problem(`${at}.scaling_parameters`, 'is not supported');
        const number = (key: string): number | undefined => (parameters[key] === undefined || parameters[key] === null ? undefined : Number(parameters[key]));
        const finite = (key: string): number | undefined => {
          const value = number(key);
          return value !== undefined && Number.isFinite(value) ? value : undefined;
        };
        const [targetMin, targetMax, targetMean, targetStd, targetSum] = ['target_min', 'target_max', 'target_mean', 'target_std', 'target_sum'].map(finite);
        const dispersion = number('dispersion') ?? 0;
        if (!(dispersion >= 0 && dispersion <= 1)) problem(`${p}.dispersion`, 'must be between 0 and 1');
        for (const [key, value] of ['target_min', 'target_max', 'target_mean', 'target_std', 'target_sum'].map((key) => [key, number(key)] as const)) {
          if (value !== undefined && Number.isNaN(value) && !/^\.?(nan|inf)/i.test(String(parameters[key]))) problem(`${p}.${key}`, 'must be a number');
          else if (value !== undefined && !Number.isFinite(value)) warnings.push(`${p}.${key}: ${String(parameters[key])} (what fromdata writes when the source column has infinite values) is ignored`);
        }
        const kind = definition.precision === 'integer' ? 'integer' : 'float';
        if (definition.precision !== undefined && definition.precision !== 'integer' && definition.precision !== 'float') problem(`${at}.precision`, 'must be integer or float');
        const present = rowCount * (1 - missing);
        const distribution = definition.distribution ?? 'weighted_uniform';
        const base = { name: columnName, type: 'numeric' as const, kind: kind as 'integer' | 'float', missing, ...(kind === 'float' ? { precision: 4 } : {}) };
        if (distribution === 'weighted_uniform') {
          if (targetSum !== undefined) {
            // exhibit scales the column so it sums to target_sum, and rounds integers so the total holds.
            columns.set(columnName, { ...base, distribution: 'weighted', sum: targetSum, min: Math.min(0, targetMin ?? 0), max: Number.MAX_SAFE_INTEGER, dispersion });
          } else if (targetMin !== undefined && targetMax !== undefined) {
            columns.set(columnName, { ...base, distribution: 'weighted', min: targetMin, max: targetMax, dispersion });
          } else if (targetMean !== undefined) {
            columns.set(columnName, { ...base, distribution: 'weighted', mean: targetMean, min: Math.min(0, targetMin ?? 0), max: targetMax ?? Number.MAX_SAFE_INTEGER, dispersion });
          } else if (targetMin !== undefined || targetMax !== undefined) {
            const only = (targetMin ?? targetMax)!;
            warnings.push(`${p}: only target_min or target_max is finite; every value is ${only} (exhibit itself produces infinite values here)`);
            columns.set(columnName, { ...base, distribution: 'weighted', min: only, max: only, dispersion });
          } else problem(p, 'weighted_uniform needs target_sum, target_min and target_max, or target_mean');
        } else if (distribution === 'normal') {
          if (targetMean === undefined) problem(`${p}.target_mean`, 'a normal distribution needs target_mean');
          if (!(targetStd !== undefined && targetStd > 0)) problem(`${p}.target_std`, 'a normal distribution needs a positive target_std');
          if (dispersion > 0) problem(`${p}.dispersion`, 'only 0 is supported for a normal distribution');
          let scale = 1;
          if (targetSum !== undefined && targetMean !== undefined && present > 0) {
            // exhibit draws N(mean × weights, std), then scales the column to target_sum: mean and sd scale by the same factor.
            scale = targetSum / present / targetMean;
            if (!(scale > 0)) problem(`${p}.target_sum`, 'target_sum and target_mean must have the same sign');
          }
          // exhibit's order: target_sum, else a range (target_min and target_max, the draws mapped onto it), else the mean and sd.
          const range = targetSum === undefined && targetMin !== undefined && targetMax !== undefined && targetMax > targetMin;
          columns.set(columnName, {
            ...base,
            distribution: 'normal',
            mean: (targetMean ?? 0) * scale,
            sd: (targetStd ?? 1) * scale,
            min: targetSum === undefined && targetMin !== undefined ? targetMin : -Number.MAX_SAFE_INTEGER,
            max: targetSum === undefined && targetMax !== undefined ? targetMax : Number.MAX_SAFE_INTEGER,
            ...(range ? { rescale: true } : {}),
          });
        } else problem(`${at}.distribution`, `"${String(distribution)}" is not supported (weighted_uniform, normal)`);
      } else if (type === 'date') {
        const alias = String(definition.frequency ?? 'D');
        const frequency = dateFrequency(alias);
        if (!frequency) problem(`${at}.frequency`, `"${alias}" is not a supported pandas offset alias (D, W, MS, QS, YS, M/ME, Q/QE, Y/YE, h and anchored forms such as QS-JAN)`);
        const text = (value: unknown): string | undefined => (value === undefined || value === null ? undefined : value instanceof Date ? value.toISOString().slice(0, 10) : String(value));
        const from = text(definition.from);
        let to = text(definition.to);
        if (from === undefined) problem(`${at}.from`, 'missing');
        const uniques = definition.uniques;
        if (from !== undefined && frequency && typeof uniques === 'number' && uniques >= 1) {
          // exhibit takes `uniques` steps of the frequency from `from` (pandas date_range with periods).
          to = lastOfSteps(from, frequency, uniques);
        }
        if (to === undefined) problem(`${at}.to`, 'missing (and no uniques to derive it from)');
        if (from !== undefined && to !== undefined && frequency) {
          columns.set(columnName, { name: columnName, type: 'date', from, to, frequency, datetime: frequency === 'H', missing, ...crossJoinOf(definition, `${at}.cross_join_all_unique_values`) });
        }
      }
    }

    // Linked columns: a child takes one of its parent's values from the database's linked table.
    const linked = Array.isArray(document.linked_columns) ? document.linked_columns : [];
    /** exhibit draws a linked group from its most granular column when that one has values in the spec (uniques within inline_limit). */
    const drawnFromMostGranular = (names: string[]): boolean => {
      const last = columnsIn[names[names.length - 1] ?? ''];
      const inlineLimit = typeof metadata.inline_limit === 'number' ? metadata.inline_limit : 30;
      return names.length > 1 && isRecord(last) && typeof last.uniques === 'number' && last.uniques <= inlineLimit;
    };
    for (const group of linked) {
      if (!Array.isArray(group) || !Array.isArray(group[1])) continue;
      const names = (group[1] as unknown[]).map(String);
      // The column exhibit draws a group from comes first in its output; otherwise the group keeps its order.
      linkedGroups.push(drawnFromMostGranular(names) ? [names[names.length - 1]!, ...names.slice(0, -1)] : names);
    }
    if (!Array.isArray(document.linked_columns) && !isEmpty(document.linked_columns)) problem('linked_columns', 'must be a list of [number, [columns]]');
    linked.forEach((group: unknown, g) => {
      const at = `linked_columns[${g}]`;
      if (!Array.isArray(group) || group.length !== 2 || !Array.isArray(group[1])) return void problem(at, 'expected [number, [parent, child, …]]');
      const names = (group[1] as unknown[]).map(String);
      if (names.some((name) => columns.get(name)?.type === 'id' || columns.get(name)?.type === 'grouped-id')) {
        warnings.push(`${at}: links a uuid column (${names.join(', ')}); uuids are generated independently of the other columns`);
        return;
      }
      let dbRows: Array<Record<string, unknown>>;
      try {
        dbRows = db.rows(`temp_${id}_${String(group[0])}`, at);
      } catch (err) {
        return void problem(at, (err as Error).message.replace(`${at}: `, ''));
      }
      const base = names[names.length - 1]!;
      if (drawnFromMostGranular(names)) {
        // exhibit draws the most granular column by its probabilities and looks the others up in the
        // linked table (its last row for that value): each is paired to it, one value per value.
        for (const other of names.slice(0, -1)) {
          const lookup: Record<string, string[]> = {};
          for (const row of dbRows) lookup[String(row[base] ?? '')] = [String(row[other] ?? '')];
          const existing = columns.get(other);
          if (!existing || !columns.has(base)) {
            problem(at, `no column "${existing ? base : other}"`);
            continue;
          }
          columns.set(other, { name: other, type: 'paired', source: base, lookup, missing: existing.type === 'categorical' ? existing.missing : 0 });
        }
        return;
      }
      for (let level = 1; level < names.length; level++) {
        const parent = names[level - 1]!;
        const child = names[level]!;
        const lookup: Record<string, string[]> = {};
        for (const row of dbRows) {
          const key = String(row[parent] ?? '');
          const value = String(row[child] ?? '');
          const list = (lookup[key] ??= []);
          if (!list.includes(value)) list.push(value);
        }
        const existing = columns.get(child);
        if (!existing) {
          problem(at, `no column "${child}"`);
          continue;
        }
        columns.set(child, { name: child, type: 'paired', source: parent, lookup, missing: existing.type === 'categorical' ? existing.missing : 0 });
      }
    });

    // Weights of numerical columns from the categorical tables.
    for (const [numeric, weights] of numericWeights) {
      const column = columns.get(numeric);
      if (!column) {
        if (!isRecord(document.derived_columns) || !(numeric in document.derived_columns)) problem(`columns`, `an original_values table has a weight column "${numeric}" that is no column`);
        continue;
      }
      if (column.type !== 'numeric') continue;
      if (column.distribution === 'uniform') continue;
      // After the linked groups, whose columns but one take their values from another column.
      const usable: Record<string, Record<string, number>> = Object.fromEntries(Object.entries(weights).filter(([source]) => columns.get(source)?.type === 'categorical').map(([source, byValue]) => [source, { ...byValue }]));
      for (const [source, byValue] of Object.entries(weights)) {
        const paired = columns.get(source);
        if (paired?.type !== 'paired') continue;
        const drawn = columns.get(paired.source);
        // Looked up from the column a group is drawn from, one value each: its weight multiplies that column's
        // (exhibit multiplies every column's weight into a weighted_uniform value; constant factors cancel).
        const single = (entry: (typeof paired.lookup)[string]): string | undefined => (typeof entry === 'string' ? entry : Array.isArray(entry) && entry.length === 1 ? entry[0] : undefined);
        const oneEach = Object.values(paired.lookup).every((entry) => single(entry) !== undefined);
        if (column.distribution !== 'normal' && drawn?.type === 'categorical' && oneEach) {
          const folded = (usable[paired.source] ??= Object.fromEntries(Object.keys(drawn.values).map((value) => [value, 1])));
          for (const [value, entry] of Object.entries(paired.lookup)) if (value in folded) folded[value]! *= byValue[single(entry)!] ?? 1;
        } else {
          warnings.push(`columns.${source}: its ${numeric} weights are not used (a paired or linked column takes its values from another column)`);
        }
      }
      if (Object.keys(usable).length > 0) column.weights = usable;
    }
  } finally {
    db.close();
  }

  // "See paired column" columns take their values from the table of the column they are paired with.
  for (const column of columns.values()) {
    if (column.type !== 'paired' || column.source !== '') continue;
    const pairing = pairedLookups.get(column.name);
    if (!pairing) {
      problem(`columns.${column.name}.original_values`, 'says "See paired column" but no column lists it in paired_columns with a paired_ column');
      continue;
    }
    column.source = pairing.source;
    column.lookup = pairing.lookup;
  }

  const lists: Array<[string, string[]]> = [['uuid_columns', ['id', 'grouped-id']], ['categorical_columns', ['categorical', 'paired']], ['numerical_columns', ['numeric']], ['date_columns', ['date']]];
  const derived = isRecord(document.derived_columns) ? document.derived_columns : {};
  if (!isRecord(document.derived_columns) && !isEmpty(document.derived_columns)) problem('derived_columns', 'must be a mapping of column → expression');
  for (const [list, expected] of lists) {
    const names = metadata[list];
    if (names === undefined || names === null) continue;
    if (!Array.isArray(names)) {
      problem(`metadata.${list}`, 'must be a list');
      continue;
    }
    names.forEach((listed, index) => {
      const column = columns.get(String(listed));
      if (!column && list === 'numerical_columns' && String(listed) in derived) return; // derived numbers are listed here too
      if (!column && !(String(listed) in columnsIn)) problem(`metadata.${list}[${index}]`, `no column "${String(listed)}"`);
      else if (column && !expected.includes(column.type)) problem(`metadata.${list}[${index}]`, `"${String(listed)}" is not a ${list.replace('_columns', '')} column`);
    });
  }

  const constraints = isRecord(document.constraints) ? document.constraints : {};
  const tableConstraints: string[] = [];
  for (const key of Object.keys(constraints)) if (!['allow_duplicates', 'basic_constraints', 'custom_constraints'].includes(key)) problem(`constraints.${key}`, 'is not part of the supported exhibit subset');
  (Array.isArray(constraints.basic_constraints) ? constraints.basic_constraints : []).forEach((constraint: unknown, k) => {
    const text = String(constraint).replace(/~([^~]+)~/g, '$1');
    if (/^\s*\S+\s*(>=|<=|>|<)\s*\S+\s*$/.test(text)) tableConstraints.push(text.trim());
    else problem(`constraints.basic_constraints[${k}]`, `"${String(constraint)}" is not "column op column-or-number" with >=, <=, > or <`);
  });
  const customConstraints = importCustomConstraints(constraints.custom_constraints, problem);

  const derivedColumns: ColumnSpec[] = [];
  for (const [columnName, expression] of Object.entries(derived)) {
    if (typeof expression !== 'string') {
      problem(`derived_columns.${columnName}`, 'must be an expression');
      continue;
    }
    const translated = translatePandasExpression(expression);
    try {
      compileExpression(translated);
      const numeric = Array.isArray(metadata.numerical_columns) && metadata.numerical_columns.map(String).includes(columnName);
      derivedColumns.push({ name: columnName, type: 'derived', expression: translated, ...(numeric ? { precision: 4 } : {}) });
    } catch (err) {
      problem(`derived_columns.${columnName}`, `"${expression}" cannot be translated: ${(err as Error).message}`);
    }
  }

  // exhibit draws rows / K core rows and joins each with the K combinations of the cross-joined columns: rows / K × K rows.
  let tableRows = rowCount;
  const joined = [...columns.values()].filter((column): column is ColumnOf<'categorical'> | ColumnOf<'date'> => (column.type === 'categorical' || column.type === 'date') && column.crossJoin === true);
  if (joined.length > 0) {
    const combinations = joined.reduce((product, column) => product * crossJoinCount(column), 1);
    const core = Math.floor(rowCount / combinations);
    if (core === 0) problem('metadata.number_of_rows', `${rowCount} rows are fewer than the ${combinations} combinations of the cross-joined columns (${joined.map((column) => `${column.name} ${crossJoinCount(column)}`).join(' × ')}); exhibit refuses this too`);
    else if (core * combinations !== rowCount) {
      tableRows = core * combinations;
      warnings.push(`metadata.number_of_rows: ${rowCount} is not a multiple of the ${combinations} combinations of the cross-joined columns; ${tableRows} rows (${core} × ${combinations}) are generated, as exhibit generates`);
    }
  }

  if (problems.length > 0) throw new SpecError(problems);
  const ordered = exhibitOrder(columns, categoricalOrder, linkedGroups, derivedColumns);
  const numericalColumns = new Set(Array.isArray(metadata.numerical_columns) ? metadata.numerical_columns.map(String) : []);
  return parseSynthSpec({
    name: settings.name ?? tableName,
    seed,
    tables: [
      {
        name: tableName,
        rows: tableRows,
        columns: ordered,
        ...(tableConstraints.length ? { constraints: tableConstraints } : {}),
        ...(customConstraints.length ? { customConstraints } : {}),
        // exhibit drops a row whose values outside numerical_columns repeat an earlier row's.
        ...(constraints.allow_duplicates === false ? { unique: ordered.filter((column) => !numericalColumns.has(column.name) && column.type !== 'numeric').map((column) => column.name) } : {}),
      },
    ],
  });
}

/** exhibit's actions this engine does not do (an error naming them, rather than exhibit's silent skip of unknown names). */
const UNSUPPORTED_ACTIONS = ['make_not_null', 'geo_make_regions', 'sort_and_skew_right', 'sort_and_skew_left', 'sort_and_make_peak', 'sort_and_make_valley', 'shift_distribution_right', 'shift_distribution_left'];

/** A pandas filter (`(los > 2) & (sex == 'M')`, `~column name~`) in the expression language. */
export function translatePandasFilter(text: string): string {
  return text
    .replace(/~([^~]+)~/g, (_, name: string) => `\`${name}\``)
    .replace(/&/g, ' and ')
    .replace(/\|/g, ' or ')
    .replace(/~/g, ' not ')
    .replace(/\bTrue\b/g, '(1 == 1)')
    .replace(/\bFalse\b/g, '(1 == 0)');
}

/**
 * exhibit's custom_constraints (`name: { filter, partition: "a, b", targets: { "col1, col2": "action1, action2$arg" } }`)
 * as native customConstraints: one target per action, in exhibit's order.
 */
function importCustomConstraints(input: unknown, problem: (path: string, message: string) => void): NonNullable<TableSpec['customConstraints']> {
  if (isEmpty(input)) return [];
  if (!isRecord(input)) {
    problem('constraints.custom_constraints', 'must be a mapping of constraint name → { filter, partition, targets }');
    return [];
  }
  const result: NonNullable<TableSpec['customConstraints']> = [];
  for (const [name, definition] of Object.entries(input)) {
    const at = `constraints.custom_constraints.${name}`;
    if (!isRecord(definition)) {
      problem(at, 'must be a mapping with filter, partition and targets');
      continue;
    }
    for (const key of Object.keys(definition)) if (!['filter', 'partition', 'targets'].includes(key)) problem(`${at}.${key}`, 'is not part of the supported exhibit subset');
    const constraint: NonNullable<TableSpec['customConstraints']>[number] = { name, targets: [] };
    if (!isEmpty(definition.filter)) {
      const filter = String(definition.filter);
      if (/with_(high|low)_frequency/.test(filter)) problem(`${at}.filter`, `"${filter}": with_high_frequency / with_low_frequency filters are not supported`);
      else {
        const translated = translatePandasFilter(filter);
        try {
          compileExpression(translated);
          constraint.filter = translated;
        } catch (err) {
          problem(`${at}.filter`, `"${filter}" cannot be translated: ${(err as Error).message}`);
        }
      }
    }
    if (!isEmpty(definition.partition)) {
      const partition = (Array.isArray(definition.partition) ? definition.partition.map(String) : String(definition.partition).split(',')).map((column) => column.trim()).filter(Boolean);
      if (partition.length > 0) constraint.partition = partition;
    }
    if (!isRecord(definition.targets) || isEmpty(definition.targets)) {
      problem(`${at}.targets`, 'needs at least one "column: action"');
      continue;
    }
    for (const [columnsText, actionsText] of Object.entries(definition.targets)) {
      const columns = columnsText.split(',').map((column) => column.trim()).filter(Boolean);
      for (const actionText of String(actionsText).split(',').map((action) => action.trim()).filter(Boolean)) {
        const [action = '', ...args] = actionText.split('$');
        const native = action.replace(/_/g, '-') as CustomAction;
        if (UNSUPPORTED_ACTIONS.includes(action)) problem(`${at}.targets.${columnsText}`, `action "${action}" is not supported (supported: ${CUSTOM_ACTIONS.map((known) => known.replace(/-/g, '_')).join(', ')})`);
        else if (!CUSTOM_ACTIONS.includes(native)) problem(`${at}.targets.${columnsText}`, `"${action}" is not an exhibit action`);
        else if (native === 'assign-value' && args.length === 0) problem(`${at}.targets.${columnsText}`, 'assign_value needs its value: assign_value$value');
        else constraint.targets.push({ columns, action: native, ...(native === 'assign-value' ? { value: args.join('$') } : {}) });
      }
    }
    if (constraint.targets.length > 0) result.push(constraint);
  }
  return result;
}

/**
 * exhibit's output order: uuid columns; each linked group's columns, then their paired columns; the other
 * categorical columns (a paired column right after its source), then dates; the cross-joined columns,
 * which exhibit joins on last; numbers; derived columns.
 */
function exhibitOrder(columns: Map<string, ColumnSpec>, categoricalOrder: string[], linkedGroups: string[][], derived: ColumnSpec[]): ColumnSpec[] {
  const all = [...columns.values()];
  const ordered: ColumnSpec[] = all.filter((column) => column.type === 'id' || column.type === 'grouped-id');
  const placed = new Set(ordered.map((column) => column.name));
  const push = (column: ColumnSpec): void => {
    placed.add(column.name);
    ordered.push(column);
  };
  const linkedNames = new Set(linkedGroups.flat());
  // A column exhibit writes beside its source ("See paired column"), as opposed to a linked group's child.
  const pairedWith = (name: string): ColumnSpec[] => all.filter((other) => other.type === 'paired' && other.source === name && !linkedNames.has(other.name) && categoricalOrder.includes(other.name));
  for (const group of linkedGroups) {
    const members = group.map((name) => columns.get(name)).filter((column): column is ColumnSpec => column !== undefined && !placed.has(column.name));
    members.forEach(push);
    for (const member of members) for (const partner of pairedWith(member.name)) if (!placed.has(partner.name)) push(partner);
  }
  const crossJoined = (column: ColumnSpec): boolean => (column.type === 'categorical' || column.type === 'date') && column.crossJoin === true;
  const place = (name: string): void => {
    const column = columns.get(name);
    if (!column || placed.has(name) || crossJoined(column)) return;
    if (column.type === 'paired' && !placed.has(column.source) && columns.has(column.source)) place(column.source);
    if (placed.has(name)) return;
    push(column);
    for (const other of all) if (other.type === 'paired' && other.source === name && categoricalOrder.includes(other.name)) place(other.name);
  };
  categoricalOrder.forEach(place);
  for (const column of all) if (column.type === 'date' && !placed.has(column.name) && !crossJoined(column)) push(column);
  for (const name of categoricalOrder) {
    const column = columns.get(name);
    if (column && !placed.has(name) && crossJoined(column)) {
      push(column);
      for (const partner of pairedWith(name)) if (!placed.has(partner.name)) push(partner);
    }
  }
  for (const column of all) if (column.type === 'date' && !placed.has(column.name)) push(column);
  for (const column of all) if (column.type === 'numeric' && !placed.has(column.name)) push(column);
  // Anything not placed yet (a paired column of a cross-joined source, say) keeps its place before the numbers' end.
  for (const column of all) if (!placed.has(column.name)) push(column);
  return [...ordered, ...derived];
}
