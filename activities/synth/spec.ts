/**
 * The synthetic data spec: tables with a row count and typed columns (zod), plus the checks a schema
 * cannot express (keys that point nowhere, id spaces too small, unknown columns in expressions). Every
 * problem names its spec path, and all are found before anything is generated.
 */
import { z } from 'zod';

import { formatZodIssues, ProblemsError } from '../../config/problems';
import { dateCandidates, parseDate } from './calendar';
import { compileExpression, evaluateFormula, ExpressionError } from './expression';
import { unknownStrftimeCodes } from './strftime';
import { parseTextPattern } from './text-pattern';

export { parseDate } from './calendar';

/** Probabilities may be rounded in a spec; they must sum to 1 within this, and are then normalised. */
export const PROBABILITY_TOLERANCE = 0.001;
export const MAX_ROWS = 1_000_000_000;

const name = z.string().min(1).max(200);
const probability = z.number().min(0).max(1);
const missing = probability.default(0).describe('Fraction of rows left empty');
const length = z.int().min(1).max(15);

export const idFormatSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('uuid'),
    prefix: z.string().max(64).default(''),
    hyphens: z.boolean().optional().describe('false: 32 hex digits without hyphens (exhibit\'s form)'),
  }).describe('UUID v4, e.g. prefix "avf-phone-uuid-"'),
  z.strictObject({ kind: z.literal('digits'), minLength: length, maxLength: length }).describe('Digits, no leading zero'),
  z.strictObject({
    kind: z.literal('letters'),
    minLength: length,
    maxLength: length,
    alphabet: z.string().min(2).max(100).default('ABCDEFGHIJKLMNOPQRSTUVWXYZ'),
  }),
  z.strictObject({ kind: z.literal('row-number'), start: z.int().min(0).default(1) }).describe('1, 2, 3, … in row order'),
]);

const weights = z.record(z.string(), probability);

const qaAs = z
  .enum(['numeric', 'categorical'])
  .optional()
  .describe("QA tests this identifier's independence as a column of this type (BIT's QA does, by the type its summary gave it); its values are not compared");

const columnSchema = z.discriminatedUnion('type', [
  z.strictObject({
    name,
    type: z.literal('categorical'),
    values: weights.describe('value → probability; they sum to 1'),
    crossJoin: z
      .boolean()
      .optional()
      .describe("Every value appears with every combination of the table's other cross-joined columns, equally often (exhibit's cross_join_all_unique_values): all values, whatever their probabilities"),
    missing,
  }),
  z.strictObject({
    name,
    type: z.literal('numeric'),
    kind: z.enum(['integer', 'float']).default('float'),
    distribution: z.enum(['uniform', 'normal', 'weighted']).default('uniform'),
    min: z.number(),
    max: z.number(),
    mean: z.number().optional().describe('Target mean (normal; weighted: the overall mean, else the range is used)'),
    sd: z.number().positive().optional().describe('Target standard deviation (normal)'),
    weights: z
      .record(z.string(), weights)
      .optional()
      .describe('Conditional distribution: categorical column → value → relative weight of this column for rows with that value'),
    dispersion: z.number().min(0).max(1).optional().describe('weighted: each value times U(1 − d, 1 + d)'),
    sum: z
      .number()
      .min(0)
      .optional()
      .describe(
        "weighted: the column's total (exhibit's target_sum): values are scaled so they sum to it, and integers are rounded as exhibit rounds them (up, to at least 1, in the first rows until the total is reached, down after)",
      ),
    rescale: z
      .boolean()
      .optional()
      .describe("normal: drawn without bounds, then mapped linearly so the table's smallest draw is min and its largest max (exhibit's range scaling; integers in equal-width bins)"),
    precision: z.int().min(0).max(10).optional().describe('Decimal places of floats'),
    outOfRange: z
      .enum(['redraw', 'clamp'])
      .optional()
      .describe('normal: a draw outside min..max is drawn again (redraw, the default: a truncated normal) or set to the bound it passed (clamp, as BIT\'s generator does)'),
    missing,
  }),
  z.strictObject({
    name,
    type: z.literal('date'),
    from: z.string(),
    to: z.string(),
    frequency: z.enum(['D', 'W', 'MS', 'QS', 'YS', 'ME', 'QE', 'YE', 'H']).optional().describe('Daily, weekly, month/quarter/year start or end, hourly'),
    datetime: z.boolean().default(false).describe('Times too: any second in the range unless a frequency is set'),
    format: z.string().optional().describe('strftime: %Y %y %m %d %e %j %H %I %p %M %S %f %b %B %a %A %z %Z %X %x %T %F %D %R %c; default ISO'),
    crossJoin: z
      .boolean()
      .optional()
      .describe("Every value appears with every combination of the table's other cross-joined columns, equally often (exhibit's cross_join_all_unique_values): every date of the range"),
    missing,
  }),
  z.strictObject({
    name,
    type: z.literal('id'),
    format: idFormatSchema,
    primaryKey: z.boolean().default(false),
    qa: qaAs,
    seed: z.int().min(0).max(2 ** 32 - 1).optional().describe("This column's own seed (exhibit's uuid_seed); the spec seed otherwise"),
    frequencies: z
      .record(z.string().regex(/^[1-9][0-9]*$/, 'a frequency: 1, 2, 3, …'), z.number().min(0))
      .optional()
      .describe("Ids that repeat exactly (exhibit's frequency_distribution): frequency → share of rows; each share's rows hold ⌈rows × share / frequency⌉ ids, each that many times, in shuffled rows (shares are normalised)"),
    missing,
  }),
  z.strictObject({ name, type: z.literal('foreign-key'), references: z.string().regex(/^[^.]+\.[^.]+$/, 'expected "table.column"'), missing }),
  z.strictObject({
    name,
    type: z.literal('grouped-id'),
    format: idFormatSchema,
    groupSize: z.union([z.int(), z.string()]).describe('How many distinct ids rows share: a number, or a formula of `rows`'),
    qa: qaAs,
    missing,
  }),
  z.strictObject({
    name,
    type: z.literal('paired'),
    source: name.describe('The column whose value determines this one'),
    lookup: z.record(z.string(), z.union([z.string(), z.array(z.string()).min(1), weights])).describe('source value → value, list of values, or value → probability'),
    missing,
  }),
  z.strictObject({
    name,
    type: z.literal('text'),
    pattern: z.string().optional().describe('Regex subset: literals, [classes], \\d \\w, {n} {n,m} ? + *'),
    minLength: z.int().min(0).max(10_000).optional(),
    maxLength: z.int().min(0).max(10_000).optional(),
    alphabet: z.string().min(1).optional(),
    characters: z
      .array(z.record(z.string(), z.number().min(0)))
      .min(1)
      .max(10_000)
      .optional()
      .describe('Per-position character weights (BIT\'s patterned text): position i draws one character from characters[i]'),
    missing,
  }),
  z.strictObject({ name, type: z.literal('constant'), value: z.union([z.string(), z.number(), z.boolean()]) }),
  z.strictObject({
    name,
    type: z.literal('derived'),
    expression: z.string().min(1).describe('Over other columns of the same row'),
    precision: z.int().min(0).max(10).optional(),
  }),
]);

/** The actions of custom constraints (exhibit's names, in kebab case). */
export const CUSTOM_ACTIONS = [
  'sort-ascending',
  'sort-descending',
  'make-same',
  'make-almost-same',
  'make-distinct',
  'generate-as-sequence',
  'generate-as-repeating-sequence',
  'make-null',
  'assign-value',
  'make-outlier',
] as const;
export type CustomAction = (typeof CUSTOM_ACTIONS)[number];

const customConstraintSchema = z.strictObject({
  name: z.string().min(1).max(200).optional().describe('A label for messages (exhibit\'s constraint name)'),
  filter: z.string().min(1).optional().describe('Only rows where this expression (the derived-column language) is true; all rows otherwise'),
  partition: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe('Each action applies within each group of the filtered rows that share these columns\' values (rows missing one of them are left alone); the whole filtered table otherwise'),
  targets: z
    .array(
      z.strictObject({
        columns: z.array(z.string().min(1)).min(1).describe('Each column is acted on separately'),
        action: z.enum(CUSTOM_ACTIONS),
        value: z.union([z.string(), z.number()]).optional().describe('assign-value: the value written'),
      }),
    )
    .min(1)
    .describe('Applied in order'),
});

/** `a >= b`, `a < 3`: a numeric column against another column or a number (exhibit's basic constraints). */
export const CONSTRAINT_PATTERN = /^\s*(\S+)\s*(>=|<=|>|<)\s*(\S+)\s*$/;

const tableSchema = z.strictObject({
  name,
  rows: z.int().min(0).max(MAX_ROWS),
  columns: z.array(columnSchema).min(1),
  constraints: z
    .array(z.string().regex(CONSTRAINT_PATTERN, 'expected "column >= other" (>=, <=, >, <; other a column or a number)'))
    .optional()
    .describe('Each row satisfies these: the left numeric column is clamped to the right side when a draw breaks one (a weighted column with a dispersion d is drawn from the side within d × the right side, as exhibit does)'),
  unique: z
    .array(z.string().min(1))
    .min(1)
    .optional()
    .describe("A row whose values in these columns repeat an earlier row's is dropped (exhibit's allow_duplicates: false), so the table has at most `rows` rows; such a table is generated whole, never in shards"),
  customConstraints: z
    .array(customConstraintSchema)
    .min(1)
    .optional()
    .describe("Whole-table rules applied in order after the rows are drawn (exhibit's custom_constraints): sort, make the same, number in sequence… within partitions; such a table is generated whole, never in shards"),
});

export const synthSpecSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits, _ . -'),
  seed: z.int().min(0).max(2 ** 32 - 1).default(0),
  tables: z.array(tableSchema).min(1),
});

export type SynthSpec = z.output<typeof synthSpecSchema>;
export type TableSpec = SynthSpec['tables'][number];
export type ColumnSpec = TableSpec['columns'][number];
export type ColumnOf<T extends ColumnSpec['type']> = Extract<ColumnSpec, { type: T }>;
export type IdFormatSpec = z.output<typeof idFormatSchema>;

/** A spec that cannot be generated, with every problem named by its path. */
export class SpecError extends ProblemsError {
  override readonly name = 'SpecError';
  constructor(problems: string[]) {
    super('synthetic data spec', problems);
  }
}

/** A table whose rows depend on each other (unique, custom constraints) is generated in one piece, never in shards. */
export function generatedWhole(table: TableSpec): boolean {
  return table.unique !== undefined || table.customConstraints !== undefined;
}

/** At most this many dates in a cross-joined date column. */
export const MAX_CROSS_JOIN_VALUES = 1_000_000;

/** How many values a cross-joined column contributes to each combination: its categories, or its dates. */
export function crossJoinCount(column: ColumnOf<'categorical'> | ColumnOf<'date'>): number {
  if (column.type === 'categorical') return Object.keys(column.values).length;
  const from = parseDate(column.from);
  const to = parseDate(column.to);
  if (from === undefined || to === undefined || from > to) return 0;
  return dateCandidates(column).count;
}

/**
 * How exhibit lays out ids with a frequency distribution: per frequency f (ascending) with share p,
 * ⌈rows × p / f⌉ ids each repeated f times, the list cut at `rows`. Returns each frequency's first row
 * and first id in that list, and the ids used.
 */
export function idsOfFrequencies(frequencies: Record<string, number>, rows: number): { classes: Array<{ frequency: number; rowStart: number; rowEnd: number; idStart: number }>; ids: number } {
  const entries = Object.entries(frequencies).map(([frequency, share]) => [Number(frequency), share] as const).filter(([, share]) => share > 0).sort(([a], [b]) => a - b);
  const total = entries.reduce((sum, [, share]) => sum + share, 0);
  const classes: Array<{ frequency: number; rowStart: number; rowEnd: number; idStart: number }> = [];
  let rowStart = 0;
  let idStart = 0;
  for (const [frequency, share] of entries) {
    if (rowStart >= rows) break;
    const ids = Math.ceil((rows * share) / total / frequency);
    const rowEnd = Math.min(rows, rowStart + ids * frequency);
    classes.push({ frequency, rowStart, rowEnd, idStart });
    idStart += Math.ceil((rowEnd - rowStart) / frequency);
    rowStart = rowEnd;
  }
  return { classes, ids: idStart };
}

/** The number of distinct ids a format can give. */
export function idSpaceSize(format: IdFormatSpec): number {
  switch (format.kind) {
    case 'uuid':
      return 2 ** 32;
    case 'digits':
      return 10 ** format.maxLength - 10 ** (format.minLength - 1);
    case 'letters': {
      let size = 0;
      for (let length = format.minLength; length <= format.maxLength; length++) size += format.alphabet.length ** length;
      return size;
    }
    case 'row-number':
      return Number.MAX_SAFE_INTEGER;
  }
}

export function groupSizeOf(column: ColumnOf<'grouped-id'>, rows: number): number {
  return Math.floor(typeof column.groupSize === 'number' ? column.groupSize : evaluateFormula(column.groupSize, { rows }));
}

type Path = Array<string | number>;

function checkSemantics(spec: SynthSpec): string[] {
  const problems: string[] = [];
  const problem = (path: Path, message: string): void => {
    problems.push(`${path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${key}` : key), '')}: ${message}`);
  };
  const tables = new Map(spec.tables.map((table) => [table.name, table]));

  spec.tables.forEach((table, t) => {
    const at = (c: number, ...rest: Path): Path => ['tables', t, 'columns', c, ...rest];
    if (spec.tables.findIndex((other) => other.name === table.name) !== t) problem(['tables', t, 'name'], `table "${table.name}" is defined twice`);
    const columns = new Map(table.columns.map((column) => [column.name, column]));

    table.columns.forEach((column, c) => {
      if (table.columns.findIndex((other) => other.name === column.name) !== c) problem(at(c, 'name'), `column "${column.name}" is defined twice in table "${table.name}"`);
      switch (column.type) {
        case 'categorical': {
          const sum = Object.values(column.values).reduce((total, p) => total + p, 0);
          if (Object.keys(column.values).length === 0) problem(at(c, 'values'), 'needs at least one value');
          else if (Math.abs(sum - 1) > PROBABILITY_TOLERANCE) problem(at(c, 'values'), `probabilities sum to ${sum}, not 1 (tolerance ${PROBABILITY_TOLERANCE})`);
          break;
        }
        case 'numeric':
          if (column.min > column.max) problem(at(c, 'min'), `min ${column.min} is greater than max ${column.max}`);
          if (column.distribution === 'normal' && (column.mean === undefined || column.sd === undefined)) problem(at(c, 'distribution'), 'a normal distribution needs mean and sd');
          if (column.kind === 'integer' && Math.ceil(column.min) > Math.floor(column.max)) problem(at(c, 'min'), `no integer between ${column.min} and ${column.max}`);
          for (const [source, byValue] of Object.entries(column.weights ?? {})) {
            const other = columns.get(source);
            if (!other) problem(at(c, 'weights', source), `no column "${source}" in table "${table.name}"`);
            else if (other.type !== 'categorical') problem(at(c, 'weights', source), `"${source}" is not a categorical column`);
            else if (!Object.values(byValue).some((w) => w > 0)) problem(at(c, 'weights', source), 'needs a positive weight');
          }
          if (column.distribution !== 'weighted' && column.dispersion !== undefined) problem(at(c, 'dispersion'), 'only a weighted distribution has a dispersion');
          if (column.sum !== undefined && column.distribution !== 'weighted') problem(at(c, 'sum'), 'only a weighted distribution has a sum');
          if (column.sum !== undefined && column.mean !== undefined) problem(at(c, 'sum'), 'give a sum or a mean, not both');
          if (column.rescale && column.distribution !== 'normal') problem(at(c, 'rescale'), 'only a normal distribution is rescaled');
          if (column.distribution === 'uniform' && column.weights) problem(at(c, 'weights'), 'weights need distribution normal or weighted');
          break;
        case 'date': {
          const from = parseDate(column.from);
          const to = parseDate(column.to);
          if (from === undefined) problem(at(c, 'from'), `not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS): "${column.from}"`);
          if (to === undefined) problem(at(c, 'to'), `not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS): "${column.to}"`);
          if (from !== undefined && to !== undefined && from > to) problem(at(c, 'from'), `from ${column.from} is after to ${column.to}`);
          const unknownCodes = column.format === undefined ? [] : unknownStrftimeCodes(column.format);
          if (unknownCodes.length > 0) problem(at(c, 'format'), `unknown strftime codes ${unknownCodes.join(' ')}`);
          break;
        }
        case 'id':
        case 'grouped-id': {
          const format = column.format;
          if ((format.kind === 'digits' || format.kind === 'letters') && format.minLength > format.maxLength) {
            problem(at(c, 'format', 'minLength'), `minLength ${format.minLength} is greater than maxLength ${format.maxLength}`);
            break;
          }
          const space = idSpaceSize(format);
          if (column.type === 'id' && column.primaryKey && space < table.rows) {
            problem(at(c, 'format'), `a primary key needs ${table.rows} distinct ids but this format has only ${space}`);
          }
          if (column.type === 'id' && column.primaryKey && column.missing > 0) problem(at(c, 'missing'), 'a primary key cannot be missing');
          if (column.type === 'id' && column.frequencies !== undefined) {
            if (column.primaryKey) problem(at(c, 'frequencies'), 'a primary key appears once per row; repeating ids are not one');
            if (!Object.values(column.frequencies).some((share) => share > 0)) problem(at(c, 'frequencies'), 'needs a frequency with a positive share');
            else if (idsOfFrequencies(column.frequencies, table.rows).ids > space) problem(at(c, 'frequencies'), `needs ${idsOfFrequencies(column.frequencies, table.rows).ids} distinct ids but the format has only ${space}`);
          }
          if (column.type === 'grouped-id') {
            try {
              const size = groupSizeOf(column, table.rows);
              if (size < 1) problem(at(c, 'groupSize'), `group size is ${size}; it must be at least 1`);
              else if (size > space) problem(at(c, 'groupSize'), `group size ${size} is larger than the ${space} ids of the format`);
            } catch (err) {
              problem(at(c, 'groupSize'), err instanceof ExpressionError ? err.message : String(err));
            }
          }
          if (format.kind === 'row-number' && column.type === 'grouped-id') problem(at(c, 'format', 'kind'), 'row numbers cannot be grouped');
          break;
        }
        case 'foreign-key': {
          const [tableName, columnName] = column.references.split('.') as [string, string];
          const target = tables.get(tableName);
          const targetColumn = target?.columns.find((other) => other.name === columnName);
          if (!target) problem(at(c, 'references'), `no table "${tableName}"`);
          else if (!targetColumn) problem(at(c, 'references'), `table "${tableName}" has no column "${columnName}"`);
          else if (targetColumn.type !== 'id' || !targetColumn.primaryKey) problem(at(c, 'references'), `"${column.references}" is not a primary key (an id column with primaryKey: true)`);
          else if (target.rows === 0 && table.rows > 0) problem(at(c, 'references'), `table "${tableName}" has no rows to reference`);
          break;
        }
        case 'paired': {
          const source = columns.get(column.source);
          if (!source) {
            problem(at(c, 'source'), `no column "${column.source}" in table "${table.name}"`);
            break;
          }
          if (source.type === 'categorical') {
            const uncovered = Object.keys(source.values).filter((value) => !(value in column.lookup));
            if (uncovered.length > 0) problem(at(c, 'lookup'), `no entry for ${uncovered.map((v) => JSON.stringify(v)).join(', ')} of "${column.source}"`);
          }
          for (const [key, entry] of Object.entries(column.lookup)) {
            if (typeof entry === 'object' && !Array.isArray(entry)) {
              const sum = Object.values(entry).reduce((total, p) => total + p, 0);
              if (Math.abs(sum - 1) > PROBABILITY_TOLERANCE) problem(at(c, 'lookup', key), `probabilities sum to ${sum}, not 1`);
            }
          }
          break;
        }
        case 'text':
          if (column.characters !== undefined) {
            if (column.pattern !== undefined || column.minLength !== undefined || column.maxLength !== undefined || column.alphabet !== undefined) {
              problem(at(c, 'characters'), 'per-position characters exclude pattern, minLength, maxLength and alphabet');
            }
            column.characters.forEach((position, i) => {
              if (!Object.values(position).some((weight) => weight > 0)) problem(at(c, 'characters', i), 'needs a character with a positive weight');
              // One UTF-16 unit each: the generator writes characters as code units.
              const long = Object.keys(position).filter((char) => char.length !== 1);
              if (long.length > 0) problem(at(c, 'characters', i), `keys must be single characters (of the Basic Multilingual Plane), not ${long.map((key) => JSON.stringify(key)).join(', ')}`);
            });
          } else if (column.pattern !== undefined) {
            try {
              parseTextPattern(column.pattern);
            } catch (err) {
              problem(at(c, 'pattern'), (err as Error).message);
            }
          } else if ((column.minLength ?? 1) > (column.maxLength ?? 20)) {
            problem(at(c, 'minLength'), `minLength ${column.minLength} is greater than maxLength ${column.maxLength ?? 20}`);
          }
          break;
        case 'derived':
          try {
            const expression = compileExpression(column.expression);
            for (const name of expression.columns) {
              if (!columns.has(name)) problem(at(c, 'expression'), `unknown column "${name}" in table "${table.name}"`);
            }
          } catch (err) {
            problem(at(c, 'expression'), (err as Error).message);
          }
          break;
        case 'constant':
          break;
      }
    });
    (table.constraints ?? []).forEach((constraint, k) => {
      const [, left, , right] = CONSTRAINT_PATTERN.exec(constraint)!;
      const target = columns.get(left!);
      if (!target || target.type !== 'numeric') problem(['tables', t, 'constraints', k], `"${left}" is not a numeric column of table "${table.name}"`);
      if (!Number.isFinite(Number(right)) && !columns.has(right!)) problem(['tables', t, 'constraints', k], `"${right}" is neither a number nor a column of table "${table.name}"`);
    });
    (table.unique ?? []).forEach((name, k) => {
      if (!columns.has(name)) problem(['tables', t, 'unique', k], `no column "${name}" in table "${table.name}"`);
    });
    checkCrossJoin(table, t, problem);
    (table.customConstraints ?? []).forEach((constraint, k) => {
      const at: Path = ['tables', t, 'customConstraints', k];
      if (constraint.filter !== undefined) {
        try {
          for (const name of compileExpression(constraint.filter).columns) if (!columns.has(name)) problem([...at, 'filter'], `unknown column "${name}" in table "${table.name}"`);
        } catch (err) {
          problem([...at, 'filter'], (err as Error).message);
        }
      }
      (constraint.partition ?? []).forEach((name, p) => {
        if (!columns.has(name)) problem([...at, 'partition', p], `no column "${name}" in table "${table.name}"`);
      });
      constraint.targets.forEach((target, g) => {
        target.columns.forEach((name, n) => {
          const column = columns.get(name);
          if (!column) return void problem([...at, 'targets', g, 'columns', n], `no column "${name}" in table "${table.name}"`);
          if (target.action.startsWith('generate-as-') && column.type !== 'categorical') problem([...at, 'targets', g, 'columns', n], `${target.action} needs a categorical column (its values' order is the sequence); "${name}" is ${column.type}`);
          if (target.action === 'make-outlier' && column.type !== 'numeric') problem([...at, 'targets', g, 'columns', n], `make-outlier needs a numeric column; "${name}" is ${column.type}`);
        });
        if (target.action === 'assign-value' && target.value === undefined) problem([...at, 'targets', g, 'value'], 'assign-value needs a value');
        if (target.action !== 'assign-value' && target.value !== undefined) problem([...at, 'targets', g, 'value'], `only assign-value takes a value, not ${target.action}`);
      });
    });
    const cycle = dependencyCycle(table);
    if (cycle) problem(['tables', t, 'columns'], `columns depend on each other in a cycle: ${cycle.join(' → ')}`);
  });
  return problems;
}

function checkCrossJoin(table: TableSpec, t: number, problem: (path: Path, message: string) => void): void {
  let combinations = 1;
  const factors: string[] = [];
  table.columns.forEach((column, c) => {
    if ((column.type !== 'categorical' && column.type !== 'date') || !column.crossJoin) return;
    const count = crossJoinCount(column);
    if (count > MAX_CROSS_JOIN_VALUES) return void problem(['tables', t, 'columns', c, 'crossJoin'], `"${column.name}" has ${count} dates; at most ${MAX_CROSS_JOIN_VALUES} can be cross-joined (set a frequency)`);
    combinations *= count;
    factors.push(`${column.name} ${count}`);
  });
  if (factors.length > 0 && table.rows > 0 && combinations > table.rows) {
    problem(['tables', t, 'rows'], `${table.rows} rows are fewer than the ${combinations} combinations of the cross-joined columns (${factors.join(' × ')})`);
  }
}

/** The right-hand columns constraining a numeric column, e.g. `stays` for `los >= stays`. */
export function constraintsOn(column: string, constraints: readonly string[] | undefined): Array<{ op: '>=' | '<=' | '>' | '<'; column?: string; value?: number }> {
  return (constraints ?? []).flatMap((constraint) => {
    const [, left, op, right] = CONSTRAINT_PATTERN.exec(constraint) ?? [];
    if (left !== column) return [];
    const value = Number(right);
    return [Number.isFinite(value) ? { op: op as '>=', value } : { op: op as '>=', column: right! }];
  });
}

/** The columns a column's values are computed from (same row). */
export function dependenciesOf(column: ColumnSpec, table?: TableSpec): string[] {
  if (column.type === 'numeric') {
    const constrained = constraintsOn(column.name, table?.constraints).flatMap((c) => (c.column ? [c.column] : []));
    return [...Object.keys(column.weights ?? {}), ...constrained];
  }
  if (column.type === 'paired') return [column.source];
  if (column.type === 'derived') {
    try {
      return compileExpression(column.expression).columns;
    } catch {
      return [];
    }
  }
  return [];
}

function dependencyCycle(table: TableSpec): string[] | undefined {
  const byName = new Map(table.columns.map((column) => [column.name, column]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done' || !byName.has(name)) return undefined;
    if (state.get(name) === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'visiting');
    stack.push(name);
    for (const dependency of dependenciesOf(byName.get(name)!, table)) {
      const cycle = visit(dependency);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const column of table.columns) {
    const cycle = visit(column.name);
    if (cycle) return cycle;
  }
  return undefined;
}

/** Validates a parsed spec object (JSON or YAML); throws SpecError listing every problem by path. */
export function parseSynthSpec(input: unknown): SynthSpec {
  const result = synthSpecSchema.safeParse(input);
  if (!result.success) throw new SpecError(formatZodIssues(result.error));
  const problems = checkSemantics(result.data);
  if (problems.length > 0) throw new SpecError(problems);
  return result.data;
}
