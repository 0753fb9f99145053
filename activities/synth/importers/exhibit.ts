/**
 * Imports an exhibit YAML spec (already parsed) into a synthetic data spec. The supported subset:
 *
 * - metadata: number_of_rows, random_seed, id, and the uuid/categorical/numerical/date column lists
 *   (each listed column must exist with that type); other metadata keys are informational.
 * - uuid: frequency_distribution `1 | 1.0` (each id once: a primary key), miss_probability 0,
 *   anonymising_set `uuid` (UUID v4) or `range` (row numbers), uuid_seed.
 * - categorical: original_values as a pipe table `column | [paired_<col> |]… probability_vector`, with an
 *   optional `Missing data` row; `See paired column` for a column paired from another one's table;
 *   paired_columns, uniques (informational), miss_probability, anonymising_set `random`, dispersion 0,
 *   cross_join_all_unique_values false.
 * - continuous: precision integer|float, distribution weighted_uniform (uniform between target_min and
 *   target_max) or normal (target_mean, target_std, truncated to target_min..target_max), dispersion 0,
 *   miss_probability; target_sum must be empty.
 * - date: from, to (or uniques with a frequency), frequency D|W|MS|QS|YS|H, miss_probability,
 *   cross_join_all_unique_values false.
 * - constraints: allow_duplicates, empty basic_constraints and custom_constraints; derived_columns as
 *   expressions over other columns.
 * Anything else is an error naming its key: nothing is skipped silently.
 */
import { parseSynthSpec, SpecError, type ColumnSpec, type SynthSpec } from '../spec';
import { parsePipeTable } from './pipe-table';

type Record_ = Record<string, unknown>;

const isRecord = (value: unknown): value is Record_ => typeof value === 'object' && value !== null && !Array.isArray(value);
const FREQUENCIES = new Set(['D', 'W', 'MS', 'QS', 'YS', 'H']);
const KNOWN_KEYS: Record<string, string[]> = {
  uuid: ['type', 'frequency_distribution', 'miss_probability', 'anonymising_set', 'uuid_seed'],
  categorical: ['type', 'original_values', 'paired_columns', 'uniques', 'miss_probability', 'anonymising_set', 'dispersion', 'cross_join_all_unique_values'],
  continuous: ['type', 'precision', 'distribution', 'distribution_parameters', 'miss_probability', 'scaling', 'scaling_parameters'],
  date: ['type', 'from', 'to', 'uniques', 'frequency', 'miss_probability', 'cross_join_all_unique_values'],
};

export function importExhibitSpec(document: unknown, name?: string): SynthSpec {
  const problems: string[] = [];
  const problem = (path: string, message: string): void => void problems.push(`${path}: ${message}`);
  if (!isRecord(document)) throw new SpecError(['(root): an exhibit spec is a mapping with metadata and columns']);
  const metadata = isRecord(document.metadata) ? document.metadata : {};
  if (!isRecord(document.metadata)) problem('metadata', 'missing');
  const columnsIn = isRecord(document.columns) ? document.columns : {};
  if (!isRecord(document.columns)) problem('columns', 'missing');
  for (const key of Object.keys(document)) {
    if (!['metadata', 'columns', 'constraints', 'derived_columns', 'linked_columns', 'models'].includes(key)) problem(key, 'is not part of the supported exhibit subset');
  }
  if (Array.isArray(document.linked_columns) && document.linked_columns.length > 0) problem('linked_columns', 'linked columns are not supported');
  if (isRecord(document.models) && Object.keys(document.models).length > 0) problem('models', 'ML models are not supported');

  const rows = metadata.number_of_rows;
  if (typeof rows !== 'number') problem('metadata.number_of_rows', 'must be a number');
  const seed = metadata.random_seed ?? 0;
  const tableName = typeof metadata.id === 'string' && metadata.id ? metadata.id : 'exhibit';

  const columns: ColumnSpec[] = [];
  const pairedLookups = new Map<string, { source: string; lookup: Record<string, string> }>();

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
    const missing = Number(definition.miss_probability ?? 0);
    if (definition.cross_join_all_unique_values === true) problem(`${at}.cross_join_all_unique_values`, 'only false is supported');

    if (type === 'uuid') {
      try {
        const table = parsePipeTable(definition.frequency_distribution ?? ['frequency | probability_vector', '1 | 1.0'], `${at}.frequency_distribution`);
        const nonZero = table.rows.filter((row) => Number(row[1]) > 0);
        if (nonZero.length !== 1 || Number(nonZero[0]![0]) !== 1) {
          problem(`${at}.frequency_distribution`, 'only "1 | 1.0" (every id appears once) is supported');
        }
      } catch (err) {
        problem(`${at}.frequency_distribution`, (err as Error).message);
      }
      if (missing !== 0) problem(`${at}.miss_probability`, 'a uuid column is a primary key here and cannot be missing');
      const anonymising = definition.anonymising_set ?? 'uuid';
      if (anonymising !== 'uuid' && anonymising !== 'range') problem(`${at}.anonymising_set`, 'only "uuid" or "range" is supported');
      columns.push({
        name: columnName,
        type: 'id',
        primaryKey: true,
        format: anonymising === 'range' ? { kind: 'row-number', start: 1 } : { kind: 'uuid', prefix: '' },
        ...(typeof definition.uuid_seed === 'number' ? { seed: definition.uuid_seed } : {}),
        missing: 0,
      });
    } else if (type === 'categorical') {
      if ((definition.anonymising_set ?? 'random') !== 'random') problem(`${at}.anonymising_set`, 'only "random" is supported');
      if (Number(definition.dispersion ?? 0) !== 0) problem(`${at}.dispersion`, 'only 0 is supported');
      if (definition.original_values === 'See paired column') {
        columns.push({ name: columnName, type: 'paired', source: '', lookup: {}, missing: 0 }); // filled in below
        continue;
      }
      try {
        const table = parsePipeTable(definition.original_values, `${at}.original_values`);
        const valueIndex = 0;
        const probabilityIndex = table.header.indexOf('probability_vector');
        if (probabilityIndex < 0) throw new Error(`${at}.original_values: the header has no probability_vector`);
        const values: Record<string, number> = {};
        let missingRow = 0;
        for (const row of table.rows) {
          const probability = Number(row[probabilityIndex]);
          if (!Number.isFinite(probability)) throw new Error(`${at}.original_values: "${row[probabilityIndex]}" is not a probability`);
          if (row[valueIndex] === 'Missing data') missingRow = probability;
          else values[row[valueIndex]!] = probability;
        }
        const present = 1 - missingRow;
        if (present <= 0) throw new Error(`${at}.original_values: every row is Missing data`);
        for (const key of Object.keys(values)) values[key] = values[key]! / present;
        columns.push({ name: columnName, type: 'categorical', values, missing: missingRow > 0 ? missingRow : missing });
        table.header.forEach((header, index) => {
          if (!header.startsWith('paired_')) return;
          const lookup: Record<string, string> = {};
          for (const row of table.rows) if (row[valueIndex] !== 'Missing data') lookup[row[valueIndex]!] = row[index]!;
          pairedLookups.set(header.slice('paired_'.length), { source: columnName, lookup });
        });
        const pairedColumns = Array.isArray(definition.paired_columns) ? definition.paired_columns.map(String) : [];
        for (const paired of pairedColumns) {
          if (!table.header.includes(`paired_${paired}`)) problem(`${at}.paired_columns`, `the original_values table has no paired_${paired} column`);
        }
      } catch (err) {
        problem(`${at}.original_values`, (err as Error).message.replace(`${at}.original_values: `, ''));
      }
    } else if (type === 'continuous') {
      const parameters = isRecord(definition.distribution_parameters) ? definition.distribution_parameters : {};
      const p = `${at}.distribution_parameters`;
      for (const key of Object.keys(parameters)) {
        if (!['target_min', 'target_max', 'target_mean', 'target_std', 'target_sum', 'dispersion', 'uniform_base_value'].includes(key)) problem(`${p}.${key}`, 'is not part of the supported exhibit subset');
      }
      if (parameters.target_sum !== undefined && parameters.target_sum !== null) problem(`${p}.target_sum`, 'is not supported');
      if (Number(parameters.dispersion ?? 0) !== 0) problem(`${p}.dispersion`, 'only 0 is supported');
      if (definition.scaling !== undefined && definition.scaling !== null && definition.scaling !== 'target_sum') problem(`${at}.scaling`, 'is not supported');
      const min = Number(parameters.target_min);
      const max = Number(parameters.target_max);
      if (!Number.isFinite(min)) problem(`${p}.target_min`, 'must be a number');
      if (!Number.isFinite(max)) problem(`${p}.target_max`, 'must be a number');
      const distribution = definition.distribution ?? 'weighted_uniform';
      const kind = definition.precision === 'integer' ? 'integer' : 'float';
      if (definition.precision !== undefined && definition.precision !== 'integer' && definition.precision !== 'float') problem(`${at}.precision`, 'must be integer or float');
      if (distribution === 'normal') {
        const mean = Number(parameters.target_mean);
        const sd = Number(parameters.target_std);
        if (!Number.isFinite(mean)) problem(`${p}.target_mean`, 'a normal distribution needs target_mean');
        if (!(sd > 0)) problem(`${p}.target_std`, 'a normal distribution needs a positive target_std');
        columns.push({ name: columnName, type: 'numeric', kind, distribution: 'normal', min, max, mean, sd, missing });
      } else if (distribution === 'weighted_uniform') {
        columns.push({ name: columnName, type: 'numeric', kind, distribution: 'uniform', min, max, missing });
      } else problem(`${at}.distribution`, `"${String(distribution)}" is not supported (weighted_uniform, normal)`);
    } else if (type === 'date') {
      const frequency = String(definition.frequency ?? 'D');
      if (!FREQUENCIES.has(frequency)) problem(`${at}.frequency`, `"${frequency}" is not supported (${[...FREQUENCIES].join(', ')})`);
      const from = definition.from === undefined ? undefined : String(definition.from instanceof Date ? definition.from.toISOString().slice(0, 10) : definition.from);
      let to = definition.to === undefined ? undefined : String(definition.to instanceof Date ? definition.to.toISOString().slice(0, 10) : definition.to);
      if (from === undefined) problem(`${at}.from`, 'missing');
      if (to === undefined && typeof definition.uniques === 'number' && from !== undefined) to = dateAfterSteps(from, frequency, definition.uniques - 1);
      if (to === undefined) problem(`${at}.to`, 'missing (and no uniques to derive it from)');
      if (from !== undefined && to !== undefined) {
        columns.push({ name: columnName, type: 'date', from, to, frequency: frequency as 'D', datetime: frequency === 'H', missing });
      }
    }
  }

  // "See paired column" columns take their values from the table of the column they are paired with.
  for (const column of columns) {
    if (column.type !== 'paired') continue;
    const pairing = pairedLookups.get(column.name);
    if (!pairing) {
      problem(`columns.${column.name}.original_values`, 'says "See paired column" but no column lists it in paired_columns with a paired_ column');
      continue;
    }
    column.source = pairing.source;
    column.lookup = pairing.lookup;
  }

  const lists: Array<[string, string]> = [['uuid_columns', 'id'], ['categorical_columns', 'categorical'], ['numerical_columns', 'numeric'], ['date_columns', 'date']];
  for (const [list, expected] of lists) {
    const names = metadata[list];
    if (names === undefined || names === null) continue;
    if (!Array.isArray(names)) {
      problem(`metadata.${list}`, 'must be a list');
      continue;
    }
    names.forEach((listed, index) => {
      const column = columns.find((candidate) => candidate.name === listed);
      if (!column && !(String(listed) in columnsIn)) problem(`metadata.${list}[${index}]`, `no column "${String(listed)}"`);
      else if (column && column.type !== expected && !(expected === 'categorical' && column.type === 'paired')) problem(`metadata.${list}[${index}]`, `"${String(listed)}" is not a ${list.replace('_columns', '')} column`);
    });
  }

  const constraints = isRecord(document.constraints) ? document.constraints : {};
  for (const key of Object.keys(constraints)) if (!['allow_duplicates', 'basic_constraints', 'custom_constraints'].includes(key)) problem(`constraints.${key}`, 'is not part of the supported exhibit subset');
  if (Array.isArray(constraints.basic_constraints) && constraints.basic_constraints.length > 0) problem('constraints.basic_constraints', 'constraints are not supported');
  if (isRecord(constraints.custom_constraints) && Object.keys(constraints.custom_constraints).length > 0) problem('constraints.custom_constraints', 'constraints are not supported');
  if (constraints.allow_duplicates === false && !columns.some((column) => column.type === 'id')) problem('constraints.allow_duplicates', 'false needs a uuid column (rows are only unique by their id)');

  const derived = isRecord(document.derived_columns) ? document.derived_columns : {};
  for (const [columnName, expression] of Object.entries(derived)) {
    if (typeof expression !== 'string') problem(`derived_columns.${columnName}`, 'must be an expression');
    else columns.push({ name: columnName, type: 'derived', expression });
  }

  if (problems.length > 0) throw new SpecError(problems);
  return parseSynthSpec({ name: name ?? tableName, seed, tables: [{ name: tableName, rows, columns }] });
}

function dateAfterSteps(from: string, frequency: string, steps: number): string {
  const start = new Date(`${from.slice(0, 10)}T00:00:00Z`);
  const date = new Date(start);
  if (frequency === 'D') date.setUTCDate(date.getUTCDate() + steps);
  else if (frequency === 'W') date.setUTCDate(date.getUTCDate() + 7 * steps);
  else if (frequency === 'H') date.setUTCHours(date.getUTCHours() + steps);
  else date.setUTCMonth(date.getUTCMonth() + steps * (frequency === 'MS' ? 1 : frequency === 'QS' ? 3 : 12));
  return frequency === 'H' ? date.toISOString().slice(0, 19) : date.toISOString().slice(0, 10);
}
