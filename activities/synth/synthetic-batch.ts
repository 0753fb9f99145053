/**
 * generate-synthetic as plain functions: a batch of specs (files and glob patterns in the data root),
 * each spec one dataset in synth/<spec name>/<run id>/, each table split into row-range shards that any
 * worker generates, then joined in order into the table file. The engine writes any row range exactly as
 * the matching slice of the whole table, so the joined file is byte-identical to one-pass generation.
 *
 * Files of a dataset being generated: parts in synth/<spec>/<run id>/.parts/<inputs hash>/, each committed
 * by rename with a record of its digests beside it (`<part>.json`, written after the part), so a retried
 * shard or concatenation reuses a part only when it is provably complete. The table file is committed by
 * rename too; its parts go once it is there, and the parts folder once the dataset is recorded as done.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import { pathToFileURL } from 'node:url';

import type { Logger } from 'pino';

import { BadInputError } from '../errors';
import { DATA_ROOT_LAYERS, dataRootFile } from '../runs/data-root';
import type { StageConfigFor } from '../runs/stage-definition';
import { findCompletedStage, recordCompletedStage } from '../runs/stage-index';
import type { OutputRef, StageOutputs } from '../runs/types';
import { commitTemporaryFile, writeFileAtomic } from '../storage/atomic-write';
import { type BlobStore, objectUri } from '../storage/blob-store';
import { globFiles, isGlobPattern } from '../storage/folder-glob';
import { freeBytesFor } from '../storage/free-space';
import { digestFile, hashOfValue, sha256Hex } from '../storage/hashing';
import { FileDigestMismatch, joinFilesAtomic } from '../storage/join-files';
import { uploadFileOnce } from '../storage/upload-once';
import { estimateTableBytes, writeTableFile } from './generate';
import { type generateSyntheticStage, type ShardRange, shardRanges } from './generate-synthetic.stage';
import { loadSynthSpec } from './load-spec';
import { generatedWhole, SpecError, type SynthSpec } from './spec';

export type GenerateSyntheticConfig = StageConfigFor<typeof generateSyntheticStage>;

/** What every activity of the stage needs of its run: not the upstream outputs, which it never reads. */
export interface SyntheticJob {
  runId: string;
  pipelineName: string;
  dataRoot: string;
  stage: GenerateSyntheticConfig;
  overwrite: boolean;
}

/** Bumped when a dataset's files change shape, so older ones are not reused. */
const DATASET_VERSION = 1;
/** Bumped when the stage's outputs change shape (2: batches, `summary` and `datasets`). */
const STAGE_VERSION = 2;
const STAGE_NAME = 'generate-synthetic';
/** Skip-if-done records of single datasets: manifests/stages/generate-synthetic.datasets/<inputs hash>/. */
const DATASET_RECORDS = 'generate-synthetic.datasets';

/** One spec of the batch and the config field that named it (`spec`, `specs[2]`). */
export interface SpecEntry {
  field: string;
  /** Relative to the data root, with `/`. */
  path: string;
}

function insideDataRoot(dataRoot: string, field: string, path: string): string {
  const full = join(dataRoot, path);
  if (relative(dataRoot, full).startsWith('..')) throw new BadInputError(`${field}: ${path} is outside the data root`);
  // After symlinks too: a spec linked out of the data root is refused with its field.
  return dataRootFile(dataRoot, path, field);
}

/** The batch's spec files, in config order (a file named twice counts once); a glob matching nothing is bad input. */
export async function resolveSpecEntries(dataRoot: string, stage: GenerateSyntheticConfig): Promise<SpecEntry[]> {
  const entries: SpecEntry[] = [];
  const problems: string[] = [];
  if (stage.spec !== undefined) entries.push({ field: 'spec', path: posix.normalize(stage.spec) });
  for (const [index, pattern] of (stage.specs ?? []).entries()) {
    const field = `specs[${index}]`;
    insideDataRoot(dataRoot, field, pattern);
    if (!isGlobPattern(pattern)) {
      entries.push({ field, path: posix.normalize(pattern) });
      continue;
    }
    const matched = await globFiles(dataRoot, pattern);
    if (matched.length === 0) problems.push(`${field}: "${pattern}" matches no file in the data root`);
    for (const path of matched) entries.push({ field, path });
  }
  if (problems.length > 0) throw new BadInputError(problems.join('\n'));
  const seen = new Set<string>();
  return entries.filter((entry) => !seen.has(entry.path) && seen.add(entry.path));
}

export interface LoadedDataset {
  entry: SpecEntry;
  spec: SynthSpec;
  /** The spec file's text, whose hash every activity checks: a spec edited during a run is refused. */
  specSha256: string;
  warnings: string[];
}

/** Problems with a spec, each line named by the config field (a single `spec` keeps the spec's own paths, as before batches). */
function specProblem(entry: SpecEntry, message: string): BadInputError {
  if (entry.field === 'spec') return new BadInputError(message);
  return new BadInputError(message.split('\n').filter(Boolean).map((line) => `${entry.field} (${entry.path}): ${line.trim()}`).join('\n'));
}

export async function loadDataset(dataRoot: string, entry: SpecEntry, stage: GenerateSyntheticConfig): Promise<LoadedDataset> {
  try {
    const loaded = await loadSynthSpec(insideDataRoot(dataRoot, entry.field, entry.path), stage.specFormat);
    return {
      entry,
      spec: stage.seed === undefined ? loaded.spec : { ...loaded.spec, seed: stage.seed },
      specSha256: sha256Hex(loaded.text),
      warnings: loaded.warnings,
    };
  } catch (err) {
    if (err instanceof SpecError) throw specProblem(entry, err.message);
    throw err;
  }
}

function totalRows(spec: { tables: ReadonlyArray<{ rows: number }> }): number {
  return spec.tables.reduce((sum, table) => sum + table.rows, 0);
}

/**
 * Every spec of the batch, loaded and checked (readable, valid, within maxRows, spec names unique in the
 * batch), every problem found in one pass. Writes nothing: the stage's preflight and its plan.
 */
export async function loadBatch(dataRoot: string, stage: GenerateSyntheticConfig): Promise<LoadedDataset[]> {
  const entries = await resolveSpecEntries(dataRoot, stage);
  const problems: string[] = [];
  const datasets: LoadedDataset[] = [];
  for (const entry of entries) {
    try {
      datasets.push(await loadDataset(dataRoot, entry, stage));
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      problems.push(err.message);
    }
  }
  const byName = new Map<string, LoadedDataset>();
  for (const dataset of datasets) {
    const other = byName.get(dataset.spec.name);
    if (other) problems.push(`${dataset.entry.field}: ${dataset.entry.path} has the spec name "${dataset.spec.name}", as ${other.entry.path} (${other.entry.field}) has; each dataset of a batch needs its own name`);
    else byName.set(dataset.spec.name, dataset);
    const rows = totalRows(dataset.spec);
    if (rows > stage.maxRows) {
      const where = dataset.entry.field === 'spec' ? '' : `${dataset.entry.field} (${dataset.entry.path}): `;
      problems.push(`${where}maxRows: the spec's tables hold ${rows} rows, more than the limit of ${stage.maxRows} (raise maxRows to allow it)`);
    }
  }
  if (problems.length > 0) throw new BadInputError(problems.join('\n'));
  return datasets;
}

/** What a dataset's files depend on: the spec text and the options that shape them (not shardRows or limits). */
function datasetInputsHash(dataset: LoadedDataset, job: SyntheticJob): string {
  const { specFormat, format, seed, datestampLine, destination } = job.stage;
  return hashOfValue({ version: DATASET_VERSION, specSha256: dataset.specSha256, specFormat, format, seed, datestampLine, destination, ...(datestampLine ? { runId: job.runId } : {}) });
}

export interface PlannedTable {
  name: string;
  rows: number;
  /** How many shards (of the stage's shardRows) the table is generated in; 0 for a reused dataset. */
  shards: number;
  /** Rows per shard when not the stage's shardRows (a table generated whole: all of them). */
  shardRows?: number;
}

/** A dataset as every activity after the plan names it. */
export interface DatasetRef {
  name: string;
  /** The spec file, relative to the data root. */
  spec: string;
  field: string;
  inputsHash: string;
  specSha256: string;
}

export interface PlannedDataset extends DatasetRef {
  tables: PlannedTable[];
  /** Done before with the same inputs: that run's outputs, reused. */
  reused?: { runId: string; outputs: StageOutputs };
}

export interface SyntheticPlan {
  inputsHash: string;
  /** The same batch was done before: its outputs, reused as a whole. */
  reused?: { runId: string; outputs: StageOutputs };
  datasets: PlannedDataset[];
  /** Seed 000's datestamp line, fixed once for every shard and retry. */
  commentLine?: string;
}

/** Estimated bytes of a spec's tables (a sample of each table's rows, scaled), and of its largest table. */
function estimateBytes(spec: SynthSpec, stage: GenerateSyntheticConfig): { total: number; largest: number } {
  let total = 0;
  let largest = 0;
  for (const table of spec.tables) {
    const estimate = estimateTableBytes(spec, table.name, stage.format);
    total += estimate;
    largest = Math.max(largest, estimate);
  }
  return { total, largest };
}

function datasetFolder(dataRoot: string, name: string, runId: string): string {
  return join(dataRoot, DATA_ROOT_LAYERS.synth, name, runId);
}

/**
 * Size guards before anything is written: each spec's estimated bytes against maxBytes, and the whole
 * batch against the free space of the disk (with a 10 % margin, and room for the largest table's parts,
 * which stay until that table is joined).
 */
export async function checkSizes(datasets: LoadedDataset[], stage: GenerateSyntheticConfig, folder: string): Promise<number> {
  let total = 0;
  let largest = 0;
  const problems: string[] = [];
  for (const dataset of datasets) {
    const estimate = estimateBytes(dataset.spec, stage);
    const where = dataset.entry.field === 'spec' ? '' : `${dataset.entry.field} (${dataset.entry.path}): `;
    if (estimate.total > stage.maxBytes) problems.push(`${where}maxBytes: the spec's tables would take about ${estimate.total} bytes, more than the limit of ${stage.maxBytes} (raise maxBytes to allow it)`);
    total += estimate.total;
    largest = Math.max(largest, estimate.largest);
  }
  if (problems.length > 0) throw new BadInputError(problems.join('\n'));
  const { folder: existing, free } = await freeBytesFor(folder);
  if ((total + largest) * 1.1 > free) throw new BadInputError(`the spec's tables would take about ${total} bytes, and the disk of ${existing} has ${free} bytes free`);
  return total;
}

function batchInputsHash(job: SyntheticJob, datasets: Array<{ entry: SpecEntry; inputsHash: string }>): string {
  return hashOfValue({ stage: STAGE_NAME, version: STAGE_VERSION, single: job.stage.specs === undefined, datasets: datasets.map((dataset) => ({ spec: dataset.entry.path, inputsHash: dataset.inputsHash })) });
}

/**
 * Loads and checks the batch, decides what is already done (the whole batch, or single datasets, with the
 * same inputs; nothing with `overwrite`) and splits each table of the rest into shards. Writes nothing.
 */
export async function planBatch(job: SyntheticJob, deps: { dataRoot: string; blobStore: BlobStore; logger: Logger; now: () => Date }): Promise<SyntheticPlan> {
  const loaded = await loadBatch(deps.dataRoot, job.stage);
  const hashed = loaded.map((dataset) => ({ ...dataset, inputsHash: datasetInputsHash(dataset, job) }));
  const inputsHash = batchInputsHash(job, hashed);
  const commentLine = job.stage.datestampLine ? JSON.stringify({ 'Date generated': deps.now().toISOString() }) : undefined;
  const planned: PlannedDataset[] = [];
  if (!job.overwrite) {
    const earlier = await findCompletedStage(deps.dataRoot, STAGE_NAME, inputsHash, deps.blobStore);
    if (earlier) return { inputsHash, reused: { runId: earlier.runId, outputs: earlier.outputs }, datasets: [] };
  }
  const toGenerate: LoadedDataset[] = [];
  for (const dataset of hashed) {
    const ref: DatasetRef = { name: dataset.spec.name, spec: dataset.entry.path, field: dataset.entry.field, inputsHash: dataset.inputsHash, specSha256: dataset.specSha256 };
    // A table with unique columns or custom constraints is generated whole: one shard.
    const tables = dataset.spec.tables.map((table) => {
      const shardRows = generatedWhole(table) ? Math.max(1, table.rows) : job.stage.shardRows;
      return { name: table.name, rows: table.rows, shardRows, shards: shardRanges(table.rows, shardRows).length };
    });
    const earlier = job.overwrite ? undefined : await findCompletedStage(deps.dataRoot, DATASET_RECORDS, dataset.inputsHash, deps.blobStore);
    if (earlier) {
      planned.push({ ...ref, tables: tables.map((table) => ({ ...table, shards: 0 })), reused: { runId: earlier.runId, outputs: earlier.outputs } });
    } else {
      planned.push({ ...ref, tables });
      toGenerate.push(dataset);
    }
  }
  const estimatedBytes = toGenerate.length === 0 ? 0 : await checkSizes(toGenerate, job.stage, datasetFolder(deps.dataRoot, toGenerate[0]!.spec.name, job.runId));
  deps.logger.info(
    { event: 'SizeChecked', datasets: planned.length, reused: planned.length - toGenerate.length, rows: toGenerate.reduce((sum, dataset) => sum + totalRows(dataset.spec), 0), estimatedBytes, shards: planned.reduce((sum, dataset) => sum + dataset.tables.reduce((n, table) => n + table.shards, 0), 0) },
    'batch planned, size within the limits',
  );
  return { inputsHash, datasets: planned, ...(commentLine ? { commentLine } : {}) };
}

/** The dataset's spec as the plan saw it: a spec file edited since is refused rather than mixed into one table. */
async function loadPlannedSpec(job: SyntheticJob, dataRoot: string, dataset: DatasetRef): Promise<LoadedDataset> {
  const loaded = await loadDataset(dataRoot, { field: dataset.field, path: dataset.spec }, job.stage);
  if (loaded.specSha256 !== dataset.specSha256) throw new BadInputError(`${dataset.field}: ${dataset.spec} changed while the run was generating it; start a new run`);
  return loaded;
}

function partsFolder(dataRoot: string, job: SyntheticJob, dataset: DatasetRef): string {
  return join(datasetFolder(dataRoot, dataset.name, job.runId), '.parts', dataset.inputsHash.slice(0, 16));
}

function partPath(dataRoot: string, job: SyntheticJob, dataset: DatasetRef, table: string, index: number): string {
  return join(partsFolder(dataRoot, job, dataset), `${table}.${String(index).padStart(6, '0')}.${job.stage.format}`);
}

/** The digests of a finished file, recorded beside it once it is committed. */
interface FileRecord {
  bytes: number;
  sha256: string;
  /** A part's CRC32, which the joins check as they copy it (parts are not flushed to the disk). */
  crc32?: number;
  start?: number;
  end?: number;
}

async function readRecord(path: string): Promise<FileRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as FileRecord;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export interface ShardInput {
  job: SyntheticJob;
  dataset: DatasetRef;
  table: string;
  shard: ShardRange;
  commentLine?: string;
}

export interface ShardOutcome extends FileRecord {
  index: number;
  start: number;
  end: number;
  reused: boolean;
}

export interface WorkScope {
  dataRoot: string;
  blobStore: BlobStore;
  logger: Logger;
  reportProgress: (details: Record<string, unknown>) => void;
  signal: AbortSignal;
}

/**
 * One shard: rows start … end-1 of a table as a part file (the header and datestamp only in the shard at
 * row 0). A part an earlier attempt committed and recorded is reused once its digest matches its record.
 */
export async function generateShard(input: ShardInput, scope: WorkScope): Promise<ShardOutcome> {
  const { job, dataset, table, shard } = input;
  const path = partPath(scope.dataRoot, job, dataset, table, shard.index);
  const recorded = await readRecord(`${path}.json`);
  if (recorded && recorded.start === shard.start && recorded.end === shard.end && (await sizeOf(path)) === recorded.bytes) {
    const digests = await digestFile(path);
    if (digests.sha256 === recorded.sha256) return { ...recorded, index: shard.index, start: shard.start, end: shard.end, reused: true };
  }
  const { spec } = await loadPlannedSpec(job, scope.dataRoot, dataset);
  const written = await writeTableFile(spec, table, path, {
    format: job.stage.format,
    start: shard.start,
    end: shard.end,
    ...(input.commentLine && shard.start === 0 ? { commentLine: input.commentLine } : {}),
    onProgress: (bytes) => scope.reportProgress({ dataset: dataset.name, table, shard: shard.index, bytes }),
    signal: scope.signal,
    // The joins check every part against this record's sha256 as they read it.
    flush: false,
  });
  const record: FileRecord = { bytes: written.bytes, sha256: written.sha256, crc32: written.crc32, start: shard.start, end: shard.end };
  await writeFileAtomic(`${path}.json`, JSON.stringify(record));
  return { ...record, index: shard.index, start: shard.start, end: shard.end, reused: false };
}

export interface ConcatInput {
  job: SyntheticJob;
  dataset: DatasetRef;
  table: string;
  parts: ShardOutcome[];
  commentLine?: string;
}

export interface TableOutcome {
  dataset: string;
  table: string;
  file: OutputRef;
  uploaded?: OutputRef;
}

/**
 * A join found a part whose bytes are not its record's (parts are not flushed to the disk: a crash can
 * tear one): the part is generated again and the attempt fails, retryably, so its retry joins from the
 * start with every part whole.
 */
async function regenerateTornPart(input: { job: SyntheticJob; dataset: DatasetRef; table: string; commentLine?: string }, shard: ShardRange, scope: WorkScope): Promise<never> {
  const { job, dataset, table } = input;
  scope.logger.warn({ event: 'PartRegenerated', dataset: dataset.name, table, shard: shard.index }, 'a part did not match its record; generating it again and joining again');
  const path = partPath(scope.dataRoot, job, dataset, table, shard.index);
  await Promise.all([rm(path, { force: true }), rm(`${path}.json`, { force: true })]);
  await generateShard({ job, dataset, table, shard, ...(input.commentLine ? { commentLine: input.commentLine } : {}) }, scope);
  throw new Error(`${dataset.name}/${table}: part ${shard.index} did not match its record (a crash tore it); it was generated again and the join starts over`);
}

/**
 * Joins a table's parts in order into synth/<spec>/<run id>/<table>.<ext> (temporary name, then rename;
 * one part is simply renamed), records the table's digests, removes the parts and uploads the table when
 * the stage has a destination. A part missing or not matching its record is generated again first.
 */
export async function concatTable(input: ConcatInput, scope: WorkScope): Promise<TableOutcome> {
  const { job, dataset, table } = input;
  const extension = job.stage.format;
  const tablePath = join(datasetFolder(scope.dataRoot, dataset.name, job.runId), `${table}.${extension}`);
  const donePath = join(partsFolder(scope.dataRoot, job, dataset), `${table}.done.json`);
  const parts = [...input.parts].sort((a, b) => a.index - b.index);

  let file: FileRecord | undefined;
  const done = await readRecord(donePath);
  if (done && (await sizeOf(tablePath)) === done.bytes && (await digestFile(tablePath)).sha256 === done.sha256) file = done;
  if (!file) {
    const paths: string[] = [];
    for (const part of parts) {
      const path = partPath(scope.dataRoot, job, dataset, table, part.index);
      const recorded = await readRecord(`${path}.json`);
      const complete = recorded?.sha256 === part.sha256 && recorded.crc32 !== undefined && recorded.bytes === part.bytes && (await sizeOf(path)) === part.bytes;
      if (!complete) {
        scope.logger.warn({ event: 'PartRegenerated', dataset: dataset.name, table, shard: part.index }, 'a part was missing or did not match its record; generating it again');
        await generateShard({ job, dataset, table, shard: { index: part.index, start: part.start, end: part.end }, ...(input.commentLine ? { commentLine: input.commentLine } : {}) }, scope);
      }
      paths.push(path);
    }
    const records = await Promise.all(paths.map(async (path) => (await readRecord(`${path}.json`))!));
    try {
      if (paths.length === 1) {
        // The part becomes the table: checked, and flushed to the disk as a table is, before its rename.
        if ((await digestFile(paths[0]!)).sha256 !== records[0]!.sha256) throw new FileDigestMismatch(0, paths[0]!);
        await commitTemporaryFile(paths[0]!, tablePath, false);
        file = { bytes: records[0]!.bytes, sha256: records[0]!.sha256 };
      } else {
        file = await joinFilesAtomic(tablePath, async (i) => (i < paths.length ? { path: paths[i]!, crc32: records[i]!.crc32! } : undefined), {
          onProgress: (bytes) => scope.reportProgress({ dataset: dataset.name, table, joinedBytes: bytes }),
          signal: scope.signal,
        });
      }
    } catch (err) {
      if (err instanceof FileDigestMismatch) await regenerateTornPart(input, parts[err.index]!, scope);
      throw err;
    }
    await writeFileAtomic(donePath, JSON.stringify(file));
    for (const path of paths) await Promise.all([rm(path, { force: true }), rm(`${path}.json`, { force: true })]);
  }
  return tableDone(input, scope, tablePath, file, parts.length);
}

export interface JoinAsTheyFinishInput {
  job: SyntheticJob;
  dataset: DatasetRef;
  table: string;
  /** The table's rows and rows per shard, from which the join derives its shards' ranges (`shardRanges`). */
  rows: number;
  shardRows: number;
  commentLine?: string;
  /**
   * Stop waiting for a part after this long (half the activity's start-to-close timeout): the workflow
   * then joins the parts after its shards instead, so a table whose shards outlast an attempt still joins.
   */
  waitLimitMs: number;
}

/** A part as the join found it: what the workflow checks against the shard's own outcome. */
export interface JoinedPart {
  index: number;
  start: number;
  end: number;
  bytes: number;
  sha256: string;
}

export type JoinAsTheyFinishOutcome = { joined: TableOutcome; parts: JoinedPart[] } | { waitedTooLong: true };

class WaitedTooLong extends Error {}

/**
 * Polls for a part's record (written after the part is committed) for the shard's range (a part of an
 * earlier attempt with other `shardRows` is one its shard replaces), the interval growing to 200 ms.
 */
async function waitForPart(partFile: string, shard: ShardRange, deadline: number, scope: WorkScope, progress: Record<string, unknown>): Promise<FileRecord> {
  for (let pause = 10; ; pause = Math.min(200, pause * 2)) {
    scope.signal.throwIfAborted();
    const record = await readRecord(`${partFile}.json`);
    if (record?.crc32 !== undefined && record.start === shard.start && record.end === shard.end && (await sizeOf(partFile)) === record.bytes) return record;
    if (Date.now() > deadline) throw new WaitedTooLong();
    scope.reportProgress({ ...progress, waitingForPart: true });
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

/**
 * A table's join started with its shards: appends each part, in order, as soon as its shard has committed
 * it (its record is there and the part has the recorded size), so the table is complete moments after its
 * last shard instead of one whole copy later. Then as concatTable: digests recorded, parts removed,
 * uploaded when the stage has a destination. Returns the parts' records for the workflow to check against
 * the shards' outcomes, or `waitedTooLong` (nothing written) when a part took longer than `waitLimitMs`.
 */
export async function joinShardsAsTheyFinish(input: JoinAsTheyFinishInput, scope: WorkScope): Promise<JoinAsTheyFinishOutcome> {
  const { job, dataset, table } = input;
  const tablePath = join(datasetFolder(scope.dataRoot, dataset.name, job.runId), `${table}.${job.stage.format}`);
  const donePath = join(partsFolder(scope.dataRoot, job, dataset), `${table}.done.json`);
  const shards = shardRanges(input.rows, input.shardRows);
  const done = (await readRecord(donePath)) as (FileRecord & { parts?: JoinedPart[] }) | undefined;
  const sameShards = done?.parts?.length === shards.length && done.parts.every((part, i) => part.start === shards[i]!.start && part.end === shards[i]!.end);
  let file: FileRecord & { parts: JoinedPart[] };
  if (done?.parts && sameShards && (await sizeOf(tablePath)) === done.bytes && (await digestFile(tablePath)).sha256 === done.sha256) {
    file = { bytes: done.bytes, sha256: done.sha256, parts: done.parts };
  } else {
    const deadline = Date.now() + input.waitLimitMs;
    const parts: JoinedPart[] = [];
    const paths: string[] = [];
    const nextPart = async (i: number) => {
      const shard = shards[i];
      if (!shard) return undefined;
      const path = partPath(scope.dataRoot, job, dataset, table, shard.index);
      const record = await waitForPart(path, shard, deadline, scope, { dataset: dataset.name, table, joinedParts: i });
      parts.push({ index: shard.index, start: shard.start, end: shard.end, bytes: record.bytes, sha256: record.sha256 });
      paths.push(path);
      return { path, crc32: record.crc32! };
    };
    try {
      const written = await joinFilesAtomic(tablePath, nextPart, {
        onProgress: (bytes) => scope.reportProgress({ dataset: dataset.name, table, joinedParts: parts.length, joinedBytes: bytes }),
        signal: scope.signal,
      });
      file = { ...written, parts };
    } catch (err) {
      if (err instanceof FileDigestMismatch) await regenerateTornPart(input, shards[err.index]!, scope);
      if (err instanceof WaitedTooLong) {
        scope.logger.info({ event: 'JoinDeferred', dataset: dataset.name, table, joinedParts: parts.length }, 'a part took longer than the join may wait; the table is joined after its shards');
        return { waitedTooLong: true };
      }
      throw err;
    }
    await writeFileAtomic(donePath, JSON.stringify(file));
    for (const path of paths) await Promise.all([rm(path, { force: true }), rm(`${path}.json`, { force: true })]);
  }
  return { joined: await tableDone(input, scope, tablePath, file, shards.length), parts: file.parts };
}

/** A joined table's outcome: logged, and uploaded when the stage has a destination. */
async function tableDone(input: { job: SyntheticJob; dataset: DatasetRef; table: string }, scope: WorkScope, tablePath: string, file: FileRecord, shards: number): Promise<TableOutcome> {
  const { job, dataset, table } = input;
  scope.logger.info({ event: 'GeneratingOutputs', dataset: dataset.name, table, shards, bytes: file.bytes, path: tablePath }, 'table generated');
  const outcome: TableOutcome = { dataset: dataset.name, table, file: { uri: pathToFileURL(tablePath).href, bytes: file.bytes, sha256: file.sha256 } };
  if (job.stage.destination) {
    const uri = objectUri(job.stage.destination, `${dataset.name}/${job.runId}/${table}.${job.stage.format}`);
    const uploaded = await uploadFileOnce(scope.blobStore, { localPath: tablePath, contentType: 'text/csv' }, uri);
    outcome.uploaded = { uri: uploaded.uri, bytes: uploaded.bytes, md5: uploaded.md5 };
  }
  return outcome;
}

/** One dataset in the batch's summary. */
export interface DatasetSummary {
  name: string;
  spec: string;
  status: 'generated' | 'reused';
  /** The run whose files a reused dataset points to. */
  runId: string;
  rows: number;
  bytes: number;
  tables: Array<{ name: string; rows: number; bytes: number; sha256: string; uri: string }>;
}

/** One table of the batch, as the qa stage reads it (the `datasets` output). */
export interface DatasetIndexEntry {
  /** The spec name, or `<spec name>/<table>` when the spec has more than one table. */
  name: string;
  /** The spec file, relative to the data root. */
  spec: string;
  table: string;
  /** file:// URI of the table file. */
  uri: string;
}

export interface FinishInput {
  job: SyntheticJob;
  plan: SyntheticPlan;
  tables: TableOutcome[];
}

export interface BatchOutcome {
  outputs: StageOutputs;
  generated: number;
  reused: number;
}

/** synth/_batches/<run id>/: the batch's summary and dataset index (spec names start with a letter or digit, never `_`). */
export function batchFolder(dataRoot: string, runId: string): string {
  return join(dataRoot, DATA_ROOT_LAYERS.synth, '_batches', runId);
}

/**
 * Ends the batch: each generated dataset's spec.json (and warnings.json), their uploads, its skip-if-done
 * record and the removal of its parts folder; then the batch's summary and dataset index, and the stage's
 * record. Every write is deterministic, so a retry rewrites the same files.
 */
export async function finishBatch(input: FinishInput, scope: WorkScope & { now: () => Date }): Promise<BatchOutcome> {
  const { job, plan } = input;
  const single = plan.datasets.length === 1 && job.stage.specs === undefined;
  const outputs: StageOutputs = {};
  const summaries: DatasetSummary[] = [];
  const index: DatasetIndexEntry[] = [];
  let generated = 0;
  for (const dataset of plan.datasets) {
    let datasetOutputs: StageOutputs;
    let runId = job.runId;
    if (dataset.reused) {
      datasetOutputs = dataset.reused.outputs;
      runId = dataset.reused.runId;
    } else {
      generated += 1;
      datasetOutputs = await finishDataset(job, dataset, input.tables, scope);
    }
    const prefix = single ? '' : `${dataset.name}/`;
    for (const [key, ref] of Object.entries(datasetOutputs)) outputs[`${prefix}${key}`] = ref;
    const tables = dataset.tables.map((table) => {
      const ref = datasetOutputs[table.name]!;
      return { name: table.name, rows: table.rows, bytes: ref.bytes ?? 0, sha256: ref.sha256 ?? '', uri: ref.uri };
    });
    summaries.push({
      name: dataset.name,
      spec: dataset.spec,
      status: dataset.reused && dataset.reused.runId !== job.runId ? 'reused' : 'generated',
      runId,
      rows: tables.reduce((sum, table) => sum + table.rows, 0),
      bytes: tables.reduce((sum, table) => sum + table.bytes, 0),
      tables,
    });
    for (const table of tables) index.push({ name: tables.length === 1 ? dataset.name : `${dataset.name}/${table.name}`, spec: dataset.spec, table: table.name, uri: table.uri });
  }
  const folder = batchFolder(scope.dataRoot, job.runId);
  const summaryPath = join(folder, 'summary.json');
  const indexPath = join(folder, 'datasets.json');
  await writeFileAtomic(summaryPath, `${JSON.stringify({ runId: job.runId, datasets: summaries }, null, 2)}\n`);
  await writeFileAtomic(indexPath, `${JSON.stringify(index, null, 2)}\n`);
  outputs.summary = { uri: pathToFileURL(summaryPath).href };
  outputs.datasets = { uri: pathToFileURL(indexPath).href };
  await recordCompletedStage(scope.dataRoot, { runId: job.runId, stage: STAGE_NAME, inputsHash: plan.inputsHash, completedAt: scope.now().toISOString(), outputs });
  scope.logger.info({ event: 'BatchSummary', datasets: summaries.length, generated, reused: summaries.length - generated, path: summaryPath }, 'batch summary written');
  return { outputs, generated, reused: plan.datasets.length - generated };
}

async function finishDataset(job: SyntheticJob, dataset: PlannedDataset, tables: TableOutcome[], scope: WorkScope & { now: () => Date }): Promise<StageOutputs> {
  const { spec, warnings } = await loadPlannedSpec(job, scope.dataRoot, dataset);
  const folder = datasetFolder(scope.dataRoot, dataset.name, job.runId);
  const outputs: StageOutputs = {};
  for (const table of dataset.tables) {
    const outcome = tables.find((candidate) => candidate.dataset === dataset.name && candidate.table === table.name);
    if (!outcome) throw new Error(`no outcome for table ${table.name} of ${dataset.name}`);
    outputs[table.name] = outcome.file;
  }
  const specFile = join(folder, 'spec.json');
  await writeFileAtomic(specFile, `${JSON.stringify(spec, null, 2)}\n`);
  outputs.spec = { uri: pathToFileURL(specFile).href };
  if (warnings.length > 0) {
    // What the importer had to make of the spec (rescaled probabilities, approximations), beside the data it shaped.
    const warningsFile = join(folder, 'warnings.json');
    await writeFileAtomic(warningsFile, `${JSON.stringify(warnings, null, 2)}\n`);
    outputs.warnings = { uri: pathToFileURL(warningsFile).href };
    scope.logger.warn({ event: 'SpecWarnings', dataset: dataset.name, count: warnings.length }, 'the spec was imported with warnings');
  }
  if (job.stage.destination) {
    for (const table of dataset.tables) {
      const uploaded = tables.find((candidate) => candidate.dataset === dataset.name && candidate.table === table.name)?.uploaded;
      if (uploaded) outputs[`${table.name}.uploaded`] = uploaded;
    }
    const uri = objectUri(job.stage.destination, `${dataset.name}/${job.runId}/spec.json`);
    const uploaded = await uploadFileOnce(scope.blobStore, { localPath: specFile, contentType: 'application/json' }, uri);
    outputs['spec.uploaded'] = { uri: uploaded.uri, bytes: uploaded.bytes, md5: uploaded.md5 };
  }
  await recordCompletedStage(scope.dataRoot, { runId: job.runId, stage: DATASET_RECORDS, inputsHash: dataset.inputsHash, completedAt: scope.now().toISOString(), outputs });
  // Every table is joined and recorded: the parts folder (with parts of any earlier attempt under other inputs) goes.
  await rm(join(folder, '.parts'), { recursive: true, force: true });
  return outputs;
}

/** Names of the part and temporary files left in a folder tree (tests, and the bench's check). */
export async function leftoverFiles(folder: string): Promise<string[]> {
  if (!existsSync(folder)) return [];
  const names = await readdir(folder, { recursive: true });
  return names.filter((name) => name.includes('.parts') || name.includes('.tmp-'));
}
