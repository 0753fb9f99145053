/**
 * A synthetic series (seed 002): dataset_1 … dataset_N over periods. Period 1 is the base spec as is.
 * Period k mixes new entities (a fraction of the rows, generated with the seed advanced and the date
 * columns shifted by (k−1) × length × unit) with returning ones drawn from the reference table of all
 * entities so far: they keep their ids and static columns, their other columns are generated afresh,
 * and derived columns that read shifted or static columns are left empty for them (as the seed drops
 * constraints and derivations on those columns). The two are shuffled together deterministically.
 *
 * The reference table is kept as append-only CSV segments, synth/<series>/reference/period-<k>.csv, one
 * per period with that period's new entities: no native database to build, files that are never
 * changed once written (a finished period is never modified), streamed in constant memory, and
 * readable by people. Entity e's ids are the primary-key values of row e, so ids are unique across the
 * whole series.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { BadInputError } from '../errors';
import { streamToFileAtomicUnhashed, writeFileAtomic } from '../storage/atomic-write';
import { csvLine, type Delimiter, DELIMITERS, type OutputFormat } from '../storage/csv-cells';
import { checkFreeSpace } from '../storage/free-space';
import { canonicalJson, sha256Hex } from '../storage/hashing';
import { compileExpression } from './expression';
import { estimateTableBytes } from './generate';
import { EMPTY, GENERATED, KeptCells, periodDatasetChunks, type PeriodRows, segmentChunks, SegmentReader } from './period-rows';
import { keyOf, Permutation } from './random';
import { groupSizeOf, idSpaceSize, parseDate, type SynthSpec, type TableSpec } from './spec';
import { PERIOD_UNITS, type PeriodUnit } from './synth-options';


export interface SeriesOptions {
  series: string;
  table?: string;
  periodUnit: PeriodUnit;
  periodLength: number;
  periods: number;
  newFraction: number;
  dateColumns: string[];
  staticColumns: string[];
  idColumns?: string[];
  format: OutputFormat;
}

export interface SeriesPlan {
  /** The base spec, with grouped-id sizes fixed to the base row count. */
  spec: SynthSpec;
  table: TableSpec;
  options: SeriesOptions & { idColumns: string[] };
  rows: number;
  /** Derived columns left empty for returning entities. */
  blankedForReturning: string[];
}

/** New entities in period k: all rows in period 1, then the fraction of rows. */
export function newRowsIn(plan: Pick<SeriesPlan, 'rows' | 'options'>, period: number): number {
  return period === 1 ? plan.rows : Math.round(plan.options.newFraction * plan.rows);
}

/** Entities created before period k. */
export function entitiesBefore(plan: Pick<SeriesPlan, 'rows' | 'options'>, period: number): number {
  let total = 0;
  for (let k = 1; k < period; k++) total += newRowsIn(plan, k);
  return total;
}

/** Shifts a date (YYYY-MM-DD or with a time) by whole days, weeks or calendar months (clamped to month end). */
export function shiftDate(text: string, unit: PeriodUnit, amount: number): string {
  const time = parseDate(text);
  if (time === undefined) throw new BadInputError(`not a date: ${text}`);
  const date = new Date(time);
  if (unit === 'days' || unit === 'weeks') {
    date.setUTCDate(date.getUTCDate() + amount * (unit === 'weeks' ? 7 : 1));
  } else {
    const day = date.getUTCDate();
    date.setUTCDate(1);
    date.setUTCMonth(date.getUTCMonth() + amount);
    const lastDay = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
    date.setUTCDate(Math.min(day, lastDay));
  }
  const iso = date.toISOString();
  return text.trim().length > 10 ? iso.slice(0, 19) : iso.slice(0, 10);
}

/** Checks the series against its spec; every problem names its config field. Nothing is written. */
export function planSeries(spec: SynthSpec, options: SeriesOptions): SeriesPlan {
  const problems: string[] = [];
  const table = options.table === undefined ? spec.tables[0] : spec.tables.find((candidate) => candidate.name === options.table);
  if (!table) throw new BadInputError(`table: the spec has no table "${options.table}"`);
  const columns = new Map(table.columns.map((column) => [column.name, column]));
  if (table.unique) problems.push(`table: "${table.name}" drops repeated rows (unique), so a period's row count is not known in advance; a series needs a table without unique`);
  const repeated = table.columns.filter((column) => column.type === 'id' && column.frequencies).map((column) => column.name);
  if (repeated.length > 0) problems.push(`table: "${table.name}" has ids repeating exactly (${repeated.join(', ')}: frequencies), laid out over the whole table; a series needs grouped ids instead`);
  if (table.customConstraints) problems.push(`table: "${table.name}" has custom constraints, which work on the whole table at once; a series generates it period by period, so it needs a table without customConstraints`);
  const joined = table.columns.filter((column) => (column.type === 'categorical' || column.type === 'date') && column.crossJoin).map((column) => column.name);
  if (joined.length > 0) problems.push(`table: "${table.name}" cross-joins ${joined.join(', ')}; a period's rows are a sample of entities, so the combinations would not be complete; a series needs a table without crossJoin`);
  if (!(options.newFraction > 0 && options.newFraction <= 1)) problems.push(`newFraction: ${options.newFraction} is outside (0, 1]`);
  if (!(options.periods >= 1)) problems.push(`periods: ${options.periods}; a series has at least one period`);
  if (!PERIOD_UNITS.includes(options.periodUnit)) problems.push(`periodUnit: "${options.periodUnit}" is not one of ${PERIOD_UNITS.join(', ')}`);
  options.dateColumns.forEach((name, index) => {
    const column = columns.get(name);
    if (!column) problems.push(`dateColumns[${index}]: no column "${name}" in table "${table.name}"`);
    else if (column.type !== 'date') problems.push(`dateColumns[${index}]: "${name}" is a ${column.type} column, not a date column`);
  });
  options.staticColumns.forEach((name, index) => {
    const column = columns.get(name);
    if (!column) problems.push(`staticColumns[${index}]: no column "${name}" in table "${table.name}"`);
    else if (column.type === 'derived') problems.push(`staticColumns[${index}]: "${name}" is derived; keep the columns it is derived from`);
  });
  const idColumns = options.idColumns ?? table.columns.filter((column) => column.type === 'id' && column.primaryKey).map((column) => column.name);
  if (idColumns.length === 0) problems.push('idColumns: the table has no primary-key id column to tell entities apart');
  idColumns.forEach((name, index) => {
    const column = columns.get(name);
    if (!column || column.type !== 'id') problems.push(`idColumns[${index}]: "${name}" is not an id column of table "${table.name}"`);
  });
  const plan = { rows: table.rows, options: { ...options, idColumns } };
  const totalEntities = entitiesBefore(plan, options.periods + 1);
  for (const name of idColumns) {
    const column = columns.get(name);
    if (column?.type === 'id' && column.primaryKey && idSpaceSize(column.format) < totalEntities) {
      problems.push(`idColumns: "${name}" has ${idSpaceSize(column.format)} distinct ids, fewer than the ${totalEntities} entities of ${options.periods} periods`);
    }
  }
  if (problems.length > 0) throw new BadInputError(`invalid series "${options.series}":\n  ${problems.join('\n  ')}`);

  // Derived columns reading shifted or static columns, directly or through other derived columns.
  const touched = new Set([...options.dateColumns, ...options.staticColumns]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const column of table.columns) {
      if (column.type === 'derived' && !touched.has(column.name) && compileExpression(column.expression).columns.some((name) => touched.has(name))) {
        touched.add(column.name);
        grew = true;
      }
    }
  }
  const blankedForReturning = table.columns.filter((column) => column.type === 'derived' && touched.has(column.name)).map((column) => column.name);

  // Grouped ids keep the group size of the base row count, and ids keep the base seed in every period.
  const fixedTable: TableSpec = {
    ...table,
    columns: table.columns.map((column) => {
      if (column.type === 'grouped-id') return { ...column, groupSize: groupSizeOf(column, table.rows) };
      if (column.type === 'id' && idColumns.includes(column.name)) return { ...column, seed: column.seed ?? spec.seed };
      return column;
    }),
  };
  return {
    spec: { ...spec, tables: spec.tables.map((candidate) => (candidate === table ? fixedTable : candidate)) },
    table: fixedTable,
    options: plan.options,
    rows: table.rows,
    blankedForReturning,
  };
}

/** The spec of period k: seed advanced, date columns shifted, the series table `rows` long. */
export function periodSpec(plan: SeriesPlan, period: number, purpose: 'new' | 'returning', rows: number): SynthSpec {
  const shift = (period - 1) * plan.options.periodLength;
  const seed = (plan.spec.seed + (purpose === 'new' ? period - 1 : 1_000_003 * period)) % 2 ** 32;
  const table: TableSpec = {
    ...plan.table,
    rows,
    columns: plan.table.columns.map((column) =>
      column.type === 'date' && plan.options.dateColumns.includes(column.name) && shift > 0
        ? { ...column, from: shiftDate(column.from, plan.options.periodUnit, shift), to: shiftDate(column.to, plan.options.periodUnit, shift) }
        : column,
    ),
  };
  return { ...plan.spec, seed, tables: plan.spec.tables.map((candidate) => (candidate.name === plan.table.name ? table : candidate)) };
}

export interface SeriesFolders {
  /** synth/<series>/ in the data root. */
  seriesFolder: string;
}

export const periodFolder = (folders: SeriesFolders, period: number): string => join(folders.seriesFolder, `period-${period}`);
export const referenceSegment = (folders: SeriesFolders, period: number): string => join(folders.seriesFolder, 'reference', `period-${period}.csv`);
export const datasetFile = (folders: SeriesFolders, period: number, format: OutputFormat): string => join(periodFolder(folders, period), `dataset_${period}.${format}`);
const markerFile = (folders: SeriesFolders, period: number): string => join(periodFolder(folders, period), 'period.json');

export interface PeriodResult {
  period: number;
  inputsHash: string;
  newRows: number;
  returningRows: number;
  dataset: string;
  spec: string;
  reference: string;
  /**
   * True when an identical generation by an earlier run was found and reused; one by an earlier attempt of
   * the same run (killed after its work) counts as this run's, so a retry reports what an undisturbed run does.
   */
  reused: boolean;
}

/** Reads the kept cells of the returning entities (lineOf: entity → its dataset line) from reference segments 1 … period-1. */
async function readReturningEntities(folders: SeriesFolders, period: number, lineOf: Int32Array, kept: KeptCells, delimiter: Delimiter, signal?: AbortSignal): Promise<void> {
  const reader = new SegmentReader(delimiter, lineOf, kept);
  for (let k = 1; k < period && kept.found < kept.wanted; k++) {
    const path = referenceSegment(folders, k);
    if (!existsSync(path)) throw new BadInputError(`period ${period} needs the reference table of period ${k} (${path}); generate the periods in order`);
    await reader.read(path, signal);
  }
  if (kept.found !== kept.wanted) throw new Error(`reference table has ${kept.found} of ${kept.wanted} returning entities`);
}

/** Whether period k was finished (its marker is written last). */
export const periodDone = (folders: SeriesFolders, period: number): boolean => existsSync(markerFile(folders, period));

/**
 * Estimated bytes one period writes, from the bytes per row of a sample of the base table: its dataset
 * (every row) and its reference segment (at most as wide as a row, for the new rows).
 */
export function estimatePeriodBytes(plan: SeriesPlan, period: number): number {
  return estimateTableBytes(plan.spec, plan.table.name, plan.options.format, plan.rows + newRowsIn(plan, period));
}

/**
 * Generates period k (1-based) into synth/<series>/period-<k>/ and appends its reference segment.
 * Idempotent: an identical earlier generation is reused; a different one is never overwritten. `runId`
 * (the run generating it) is recorded in the period's marker. Checks the
 * disk has room for it before writing; an abort of `signal` stops it between blocks of rows, its temporary
 * files removed.
 */
export async function generateSeriesPeriod(
  plan: SeriesPlan,
  period: number,
  folders: SeriesFolders,
  baseInputsHash: string,
  onProgress: (details: Record<string, unknown>) => void = () => undefined,
  signal?: AbortSignal,
  runId?: string,
): Promise<PeriodResult> {
  const { options, table } = plan;
  const delimiter = DELIMITERS[options.format];
  const inputsHash = sha256Hex(canonicalJson({ baseInputsHash, period }));
  const result = {
    period,
    inputsHash,
    newRows: newRowsIn(plan, period),
    returningRows: plan.rows - newRowsIn(plan, period),
    dataset: datasetFile(folders, period, options.format),
    spec: join(periodFolder(folders, period), `spec_${period}.json`),
    reference: referenceSegment(folders, period),
  };
  if (existsSync(markerFile(folders, period))) {
    const marker = JSON.parse(await readFile(markerFile(folders, period), 'utf8')) as { inputsHash: string; runId?: string };
    if (marker.inputsHash === inputsHash) return { ...result, reused: runId === undefined || marker.runId !== runId };
    throw new BadInputError(`period ${period} of series "${options.series}" already exists with other inputs; a finished period is never overwritten: give the series another name`);
  }
  // The disk may have filled since the plan was checked: nothing is written when this period cannot fit.
  await checkFreeSpace(folders.seriesFolder, estimatePeriodBytes(plan, period), `period ${period} of series "${options.series}"`);

  const before = entitiesBefore(plan, period);
  const columnIndex = new Map(table.columns.map((column, index) => [column.name, index]));
  const kept = [...options.idColumns, ...options.staticColumns];
  const keptColumns = kept.map((name) => columnIndex.get(name)!);
  // Line j of the dataset is row shuffle(j) of the new rows followed by the returning rows (computed once:
  // a permutation step costs about as much as generating a cell).
  const shuffle = new Permutation(plan.rows, keyOf(plan.spec.seed, options.series, 'shuffle', period));
  const lineRows = new Int32Array(plan.rows);
  for (let j = 0; j < plan.rows; j++) lineRows[j] = shuffle.apply(j);

  // New entities: rows before … before+new-1 of the period's spec (so their ids continue the series).
  const newSpec = periodSpec(plan, period, 'new', before + result.newRows);

  // Returning entities: drawn without replacement from all earlier entities. They keep their kept
  // cells from the reference table; derived columns reading kept ones are left empty.
  const keptCells = new KeptCells(plan.rows, result.returningRows, kept.length);
  const sources = new Int32Array(table.columns.length).fill(GENERATED);
  const returningSpec = result.returningRows > 0 ? periodSpec(plan, period, 'returning', result.returningRows) : undefined;
  if (result.returningRows > 0) {
    const draw = new Permutation(before, keyOf(plan.spec.seed, options.series, 'returning', period));
    const drawn = new Float64Array(result.returningRows);
    for (let i = 0; i < result.returningRows; i++) drawn[i] = draw.apply(i);
    const lineOf = new Int32Array(before).fill(-1);
    for (let j = 0; j < plan.rows; j++) {
      const row = lineRows[j]!;
      if (row >= result.newRows) lineOf[drawn[row - result.newRows]!] = j;
    }
    await readReturningEntities(folders, period, lineOf, keptCells, delimiter, signal);
    keptColumns.forEach((column, k) => (sources[column] = k));
    for (const name of plan.blankedForReturning) sources[columnIndex.get(name)!] = EMPTY;
  }

  // The dataset, new and returning rows shuffled together; then the reference segment, which only
  // holds this period's new entities (the marker, written last, is what says the period is done).
  const rows: PeriodRows = {
    newRows: { spec: newSpec, first: before, count: result.newRows },
    returningRows: { ...(returningSpec ? { spec: returningSpec } : {}), count: result.returningRows, sources, kept: keptCells },
    lineRows,
  };
  const header = csvLine(table.columns.map((column) => column.name), delimiter);
  const chunks = periodDatasetChunks(table.name, options.format, header, rows, (done) => onProgress({ period, rows: done }), signal);
  await streamToFileAtomicUnhashed(Readable.from(chunks), result.dataset, signal ? { signal } : {});
  const segmentRows = { first: before, count: result.newRows, firstEntity: before };
  const segmentHeader = csvLine(['entity', ...kept], delimiter);
  const segment = segmentChunks(newSpec, table.name, options.format, segmentHeader, segmentRows, keptColumns, (done) => onProgress({ period, rows: plan.rows, referenceRows: done }), signal);
  await streamToFileAtomicUnhashed(Readable.from(segment), result.reference, signal ? { signal } : {});
  signal?.throwIfAborted();

  await writeFileAtomic(
    result.spec,
    `${JSON.stringify({
      period,
      newRecords: { rows: result.newRows, entities: [before, before + result.newRows - 1], spec: newSpec },
      returningRecords: {
        rows: result.returningRows,
        drawnFromEntities: before,
        keptColumns: kept,
        emptyColumns: plan.blankedForReturning,
        spec: returningSpec ?? null,
      },
    }, null, 2)}\n`,
  );
  await writeFileAtomic(markerFile(folders, period), `${JSON.stringify({ inputsHash, period, newRows: result.newRows, returningRows: result.returningRows, ...(runId ? { runId } : {}) })}\n`);
  return { ...result, reused: false };
}
