/**
 * The qa stage's batch, in three steps the qaRun child workflow runs as activities (qa-activities.ts):
 * the plan (which datasets, against which spec and table), one dataset's QA (written to
 * qa/<run id>/<dataset>/, skipped when done before with the same inputs) and the finish (the batch's
 * summary, HTML report and BIT-layout files in qa/<run id>/). The one-activity form that runs planned
 * before qa became a child workflow still call (qa.ts) runs the same steps in turn.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { BadInputError } from '../errors';
import { DATA_ROOT_LAYERS, dataRootFile } from '../runs/data-root';
import type { StageConfigFor } from '../runs/stage-definition';
import type { StageOutputs, StageRequest } from '../runs/types';
import { yieldToEventLoop } from '../runs/yield-point';
import { writeFileAtomic } from '../storage/atomic-write';
import { globFiles, isGlobPattern } from '../storage/folder-glob';
import { hashOfValue, sha256Hex } from '../storage/hashing';
import type { SeriesDatasetEntry } from '../synth/generate-series';
import { loadSynthSpec } from '../synth/load-spec';
import { SpecError, type SynthSpec, type TableSpec } from '../synth/spec';
import { bitLayoutFiles, cleanNames } from './bit-layout';
import { analyseDataset, type DatasetQa } from './dataset-qa';
import type { qaStage } from './qa.stage';
import { cumulativeDistributionSvg, htmlReport, type KsVerdict, ksVerdict, type ReportDataset } from './report';

export type QaConfig = StageConfigFor<typeof qaStage>;
export type QaRequest = StageRequest<QaConfig>;

/** Bumped when a dataset's QA files change shape, so earlier ones are not reused. */
const QA_DATASET_VERSION = 1;

/**
 * One entry of generate-synthetic's batch index (its `datasets` output): a table file and the spec it was
 * generated from. The contract between the two stages.
 */
export interface BatchDatasetEntry {
  name: string;
  /** The spec's path relative to the data root. */
  spec: string;
  table: string;
  /** file:// URI of the table file. */
  uri: string;
}

/** One dataset to check: a reference to its file and the spec and table it is checked against. */
export interface QaDatasetTask {
  /** As the stage before named it. */
  name: string;
  /** Its folder in qa/<run id>/: the name, made a safe and unique folder name. */
  folder: string;
  /** The spec, relative to the data root. */
  spec: string;
  table: string;
  /** file:// URI of the table file. */
  uri: string;
}

export interface QaBatchPlan {
  datasets: QaDatasetTask[];
  /** What the whole batch depends on: every dataset's inputs, the layout and alpha. */
  inputsHash: string;
}

/** What one dataset's activity did; its results are files, named here by reference. */
export interface QaDatasetOutcome {
  name: string;
  status: 'done' | 'reused';
  inputsHash: string;
  /** file:// URI of the dataset's folder of QA files (an earlier run's when reused). */
  folder: string;
  /** The run that wrote the folder. */
  runId: string;
}

/** A spec of the batch and the config field that named it (`spec`, `specs[2]`), for messages. */
interface BatchSpec {
  field: string;
  path: string;
}

/** The batch's specs: `spec` and every entry of `specs`, globs expanded, each once. */
export async function batchSpecs(dataRoot: string, stage: Pick<QaConfig, 'spec' | 'specs'>): Promise<BatchSpec[]> {
  const named = [...(stage.spec === undefined ? [] : [{ field: 'spec', pattern: stage.spec }]), ...(stage.specs ?? []).map((pattern, i) => ({ field: `specs[${i}]`, pattern }))];
  if (named.length === 0) throw new BadInputError('spec: qa needs `spec` or `specs` (a list of specs or glob patterns)');
  const specs: BatchSpec[] = [];
  const problems: string[] = [];
  for (const { field, pattern } of named) {
    const paths = isGlobPattern(pattern) ? await globFiles(dataRoot, pattern) : [posix.normalize(pattern)];
    if (paths.length === 0) problems.push(`${field}: "${pattern}" matches no file in the data root`);
    for (const path of paths) if (!specs.some((spec) => spec.path === path)) specs.push({ field, path });
  }
  if (problems.length > 0) throw new BadInputError(problems.join('\n'));
  return specs;
}

const fieldOf = (spec: BatchSpec): string => (spec.field === 'spec' ? '' : `${spec.field} (${spec.path}): `);

async function loadBatchSpec(dataRoot: string, spec: BatchSpec, stage: QaConfig): Promise<{ spec: SynthSpec; text: string }> {
  try {
    const { spec: loaded, text } = await loadSynthSpec(dataRootFile(dataRoot, spec.path, spec.field), stage.specFormat);
    return { spec: loaded, text };
  } catch (err) {
    // A single `spec` reports as it always has; a batch's spec says which entry it is.
    if (err instanceof SpecError) throw new BadInputError(spec.field === 'spec' ? err.message : err.problems.map((problem) => `${fieldOf(spec)}${problem}`).join('\n'));
    throw err;
  }
}

function tableOf(spec: SynthSpec, name: string | undefined, where: BatchSpec): TableSpec {
  const table = name === undefined ? spec.tables[0] : spec.tables.find((candidate) => candidate.name === name);
  if (!table) throw new BadInputError(`${fieldOf(where)}table: the spec has no table "${name}"`);
  return table;
}

/** Checks every spec of the batch loads, and has the table asked for, writing nothing (the run's preflight). */
export async function preflightQa(dataRoot: string, stage: QaConfig): Promise<void> {
  const problems: string[] = [];
  for (const spec of await batchSpecs(dataRoot, stage)) {
    try {
      tableOf((await loadBatchSpec(dataRoot, spec, stage)).spec, stage.table, spec);
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length > 0) throw new BadInputError(problems.join('\n'));
}

/** Folder names from dataset names: safe as one path segment, unique in the batch (`_2`, `_3`…). */
export function datasetFolders(names: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const safe = name.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^\.+/, '') || 'dataset';
    const count = (seen.get(safe) ?? 0) + 1;
    seen.set(safe, count);
    return count > 1 ? `${safe}_${count}` : safe;
  });
}

const tasksOf = (datasets: Array<Omit<QaDatasetTask, 'folder'>>): QaDatasetTask[] => {
  const folders = datasetFolders(datasets.map((dataset) => dataset.name));
  return datasets.map((dataset, i) => ({ ...dataset, folder: folders[i]! }));
};

/**
 * The datasets the stage before produced, from the references it gave, each with its spec and table:
 * generate-synthetic's batch index (a spec per dataset, matched against the batch's specs), a series'
 * dataset index, or generate-synthetic's table of the one spec.
 */
async function datasetsOf(dataRoot: string, request: QaRequest, specs: BatchSpec[]): Promise<QaDatasetTask[]> {
  const { stage, upstream } = request;
  const batchIndex = upstream['generate-synthetic']?.datasets;
  if (batchIndex) {
    const entries = JSON.parse(await readFile(fileURLToPath(batchIndex.uri), 'utf8')) as BatchDatasetEntry[];
    const wanted = new Set(specs.map((spec) => spec.path));
    // A dataset whose spec is not in the batch is left to another qa stage.
    const chosen = entries.filter((entry) => wanted.has(posix.normalize(entry.spec)) && (stage.table === undefined || entry.table === stage.table));
    const missing = specs.filter((spec) => !chosen.some((entry) => posix.normalize(entry.spec) === spec.path));
    if (missing.length > 0) {
      const ofTable = stage.table === undefined ? '' : ` with table "${stage.table}"`;
      throw new BadInputError(missing.map((spec) => `${spec.field}: no dataset${ofTable} of the stage before was generated from ${spec.path}`).join('\n'));
    }
    return tasksOf(chosen.map((entry) => ({ name: entry.name, spec: posix.normalize(entry.spec), table: entry.table, uri: entry.uri })));
  }
  if (specs.length !== 1) {
    throw new BadInputError(`specs: ${specs.length} specs, but the stage before names no spec per dataset (generate-synthetic's "datasets" index does); a series or one spec's tables are checked against one spec`);
  }
  const [only] = specs as [BatchSpec];
  const table = tableOf((await loadBatchSpec(dataRoot, only, stage)).spec, stage.table, only);
  const seriesIndex = upstream['generate-series']?.datasets;
  if (seriesIndex) {
    const entries = JSON.parse(await readFile(fileURLToPath(seriesIndex.uri), 'utf8')) as SeriesDatasetEntry[];
    return tasksOf(entries.map((entry) => ({ name: entry.name, spec: only.path, table: table.name, uri: entry.uri })));
  }
  const generated = upstream['generate-synthetic']?.[table.name];
  if (generated) return tasksOf([{ name: basename(fileURLToPath(generated.uri)).replace(/\.(csv|tsv)$/, ''), spec: only.path, table: table.name, uri: generated.uri }]);
  throw new BadInputError(`qa needs a generate-series or generate-synthetic stage with table "${table.name}" before it`);
}

/** Everything one dataset's QA files depend on; its hash decides whether an earlier result is reused. */
async function datasetInputs(dataRoot: string, stage: QaConfig, task: QaDatasetTask, specText: string): Promise<unknown> {
  const path = fileURLToPath(task.uri);
  const { size, mtimeMs } = await stat(path);
  return { version: QA_DATASET_VERSION, spec: sha256Hex(specText), specFormat: stage.specFormat, table: task.table, alpha: stage.alpha, name: task.name, folder: task.folder, file: { path, size, mtimeMs } };
}

/** The batch entry a spec path came from, for messages: `spec` when it is the single spec. */
const entryOfPath = (stage: Pick<QaConfig, 'spec'>, path: string): BatchSpec => ({ field: stage.spec !== undefined && posix.normalize(stage.spec) === path ? 'spec' : 'specs', path });

/** The batch: its datasets, each checked to have its spec's table, and the hash of the whole batch's inputs. */
export async function planQaBatch(dataRoot: string, request: QaRequest): Promise<QaBatchPlan> {
  const { stage } = request;
  const specs = await batchSpecs(dataRoot, stage);
  const datasets = await datasetsOf(dataRoot, request, specs);
  // Each spec loaded once, however many datasets it has.
  const loaded = new Map<string, Promise<{ spec: SynthSpec; text: string }>>();
  const load = (path: string) => {
    if (!loaded.has(path)) loaded.set(path, loadBatchSpec(dataRoot, specs.find((spec) => spec.path === path) ?? entryOfPath(stage, path), stage));
    return loaded.get(path)!;
  };
  const inputs: unknown[] = [];
  for (const task of datasets) {
    const { spec, text } = await load(task.spec);
    if (!spec.tables.some((table) => table.name === task.table)) throw new BadInputError(`dataset ${task.name}: the spec ${task.spec} has no table "${task.table}"`);
    inputs.push(await datasetInputs(dataRoot, stage, task, text));
  }
  return { datasets, inputsHash: hashOfValue({ version: QA_DATASET_VERSION, layout: stage.layout, alpha: stage.alpha, datasets: inputs }) };
}

/** The hash of one dataset's inputs (its spec, its file, the options that shape its files). */
export async function datasetInputsHash(dataRoot: string, stage: QaConfig, task: QaDatasetTask): Promise<string> {
  const { text } = await loadBatchSpec(dataRoot, entryOfPath(stage, task.spec), stage);
  return hashOfValue(await datasetInputs(dataRoot, stage, task, text));
}

/** What a dataset's folder holds for the finish: its QA and verdict, and the spec and table it was checked against. */
interface DatasetResult {
  name: string;
  spec: string;
  table: string;
  verdict: KsVerdict;
  qa: DatasetQa;
}
export const DATASET_RESULT_FILE = 'qa.json';
const PLOT_FILE = 'cumulative_distribution.svg';

/**
 * Checks one dataset and writes its folder qa/<run id>/<folder>/: seed 000's JSON files, the KS verdict,
 * the plot, and qa.json (everything the batch's summary needs). Returns the folder. An abort of `signal`
 * stops it before it writes anything, or between its files (each written through a temporary name that an
 * interrupted write removes).
 */
export async function checkDataset(
  dataRoot: string,
  runId: string,
  stage: QaConfig,
  task: QaDatasetTask,
  logger: { info: (details: object, message: string) => void },
  reportProgress: (details: Record<string, unknown>) => void,
  signal?: AbortSignal,
): Promise<string> {
  const { spec } = await loadBatchSpec(dataRoot, entryOfPath(stage, task.spec), stage);
  const table = spec.tables.find((candidate) => candidate.name === task.table);
  if (!table) throw new BadInputError(`dataset ${task.name}: the spec ${task.spec} has no table "${task.table}"`);
  const path = fileURLToPath(task.uri);
  const qa = await analyseDataset(path, table, path.endsWith('.tsv') ? '\t' : ',', (rows) => reportProgress({ dataset: task.name, rows }), signal);
  await yieldToEventLoop(signal);
  const pValues = qa.corr_p_values.map((entry) => entry.p_value);
  const verdict = ksVerdict(pValues, stage.alpha);
  const plotSvg = await cumulativeDistributionSvg(`${task.name}: cumulative distribution of p-values`, pValues);
  await yieldToEventLoop(signal);
  logger.info({ event: 'QualityAssurance', dataset: task.name, spec: task.spec, rows: qa.rows, pValues: pValues.length, warnings: qa.warnings.length, ksPValue: verdict.ks_p_value, passed: verdict.passed }, 'dataset checked');
  reportProgress({ dataset: task.name });
  const out = join(dataRoot, DATA_ROOT_LAYERS.qa, runId, task.folder);
  const result: DatasetResult = { name: task.name, spec: task.spec, table: task.table, verdict, qa };
  await Promise.all([
    writeFileAtomic(join(out, 'numerical_metrics_comparison.json'), JSON.stringify(qa.numerical_metrics_comparison, null, 2)),
    writeFileAtomic(join(out, 'categorical_metrics_comparison.json'), JSON.stringify(qa.categorical_metrics_comparison, null, 2)),
    writeFileAtomic(join(out, 'total_variation_distance.json'), JSON.stringify(qa.total_variation_distance, null, 2)),
    writeFileAtomic(join(out, 'corr_p_values.json'), JSON.stringify(qa.corr_p_values.map(({ statistic: _statistic, ...entry }) => entry), null, 2)),
    writeFileAtomic(join(out, 'corr_p_values_WARNING_notes.json'), JSON.stringify(qa.warnings, null, 2)),
    writeFileAtomic(join(out, 'ks_test.json'), JSON.stringify(verdict, null, 2)),
    writeFileAtomic(join(out, PLOT_FILE), plotSvg),
  ]);
  // Last: its presence says the folder is complete.
  await writeFileAtomic(join(out, DATASET_RESULT_FILE), JSON.stringify(result));
  return out;
}

/**
 * The batch's files in qa/<run id>/: summary.json (each dataset: name, spec, table, rows, verdict, done or
 * reused, its folder), the overall plot, report.html and, in the BIT layout, the three batch files and
 * their notes. Returns the stage's outputs.
 */
export async function finishQaBatch(dataRoot: string, runId: string, stage: QaConfig, outcomes: readonly QaDatasetOutcome[]): Promise<StageOutputs> {
  const { alpha, layout } = stage;
  const folder = join(dataRoot, DATA_ROOT_LAYERS.qa, runId);
  const results: Array<ReportDataset & { result: DatasetResult; outcome: QaDatasetOutcome }> = [];
  for (const outcome of outcomes) {
    const datasetFolder = fileURLToPath(outcome.folder);
    const result = JSON.parse(await readFile(join(datasetFolder, DATASET_RESULT_FILE), 'utf8')) as DatasetResult;
    const plotSvg = await readFile(join(datasetFolder, PLOT_FILE), 'utf8');
    results.push({ name: outcome.name, qa: result.qa, verdict: result.verdict, plotSvg, checkedAgainst: { spec: result.spec, table: result.table }, result, outcome });
  }
  const outputs: StageOutputs = {};
  if (layout === 'bit') {
    const files = bitLayoutFiles(results);
    const keys = cleanNames(results.map((dataset) => dataset.name));
    const notes = Object.fromEntries(results.map((dataset, i) => [keys[i]!, dataset.qa.warnings]));
    for (const [file, content] of [...Object.entries(files), ['corr_p_values_WARNING_notes.json', notes] as const]) {
      const path = join(folder, file);
      await writeFileAtomic(path, `${JSON.stringify(content, null, 2)}\n`);
      outputs[file.replace(/\.json$/, '')] = { uri: pathToFileURL(path).href };
    }
  } else {
    // Keyed by folder name: the dataset's name, unless two datasets of the batch share one.
    for (const { outcome } of results) outputs[basename(fileURLToPath(outcome.folder))] = { uri: outcome.folder };
  }
  const allPValues = results.flatMap((dataset) => dataset.qa.corr_p_values.map((entry) => entry.p_value));
  const overall = { verdict: ksVerdict(allPValues, alpha), plotSvg: await cumulativeDistributionSvg(`All ${results.length} datasets: cumulative distribution of p-values`, allPValues) };
  const summary = {
    alpha,
    overall: overall.verdict,
    datasets: results.map(({ result, outcome, verdict }) => ({
      name: outcome.name,
      spec: result.spec,
      table: result.table,
      rows: result.qa.rows,
      ...verdict,
      status: outcome.status,
      ...(outcome.status === 'reused' ? { reusedFrom: outcome.runId } : {}),
      folder: outcome.folder,
    })),
  };
  await writeFileAtomic(join(folder, 'summary.json'), JSON.stringify(summary, null, 2));
  await writeFileAtomic(join(folder, 'cumulative_distribution_all.svg'), overall.plotSvg);
  const tables = [...new Set(results.map(({ result }) => result.table))];
  const title = tables.length === 1 ? `QA of ${tables[0]}` : `QA of ${results.length} datasets`;
  const reportPath = join(folder, 'report.html');
  await writeFileAtomic(reportPath, htmlReport(title, results, overall, alpha));
  return { ...outputs, report: { uri: pathToFileURL(reportPath).href }, summary: { uri: pathToFileURL(join(folder, 'summary.json')).href } };
}
