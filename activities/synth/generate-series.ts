/**
 * generate-series as activities: a plan (validation, nothing written) and one activity per period,
 * orchestrated by the seriesRun child workflow (generate-series.workflow.ts). Periods live in
 * synth/<series>/ of the data root.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { BadInputError } from '../errors';
import { type ActivityDeps, asActivity, runOfRequest } from '../runs/activity-wrapper';
import { DATA_ROOT_LAYERS, dataRootFile } from '../runs/data-root';
import type { StageConfigFor } from '../runs/stage-definition';
import type { StageOutputs, StageRequest } from '../runs/types';
import { writeFileAtomic } from '../storage/atomic-write';
import { checkFreeSpace } from '../storage/free-space';
import { hashOfValue, sha256Hex } from '../storage/hashing';
import { estimateTableBytes } from './generate';
import type { generateSeriesStage } from './generate-series.stage';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS } from './generate-synthetic.stage';
import { loadSynthSpec } from './load-spec';
import { datasetFile, generateSeriesPeriod, newRowsIn, periodDone, planSeries, type SeriesPlan } from './series';
import { SpecError } from './spec';

export type GenerateSeriesConfig = StageConfigFor<typeof generateSeriesStage>;

/** Bumped when period outputs change shape. */
const SERIES_VERSION = 1;

export interface LoadedSeries {
  plan: SeriesPlan;
  seriesFolder: string;
  /** What every period's content depends on: the spec text and the options, except how many periods. */
  baseInputsHash: string;
}

/**
 * Loads the series' spec and checks the series against it and against maxRows (periods × rows), writing
 * nothing and generating nothing.
 */
export async function loadSeries(dataRoot: string, stage: GenerateSeriesConfig): Promise<LoadedSeries> {
  const path = dataRootFile(dataRoot, stage.spec, 'spec');
  let loaded;
  try {
    loaded = await loadSynthSpec(path, stage.specFormat);
  } catch (err) {
    if (err instanceof SpecError) throw new BadInputError(err.message);
    throw err;
  }
  // The limits shape no file, so they stay out of the hash (series begun before they existed keep theirs).
  const { stage: _name, spec: _spec, periods: _periods, retry: _retry, startToCloseTimeout: _timeout, maxRows: _maxRows, maxBytes: _maxBytes, ...options } = stage;
  const plan = planSeries(loaded.spec, { ...options, periods: stage.periods });
  const maxRows = stage.maxRows ?? DEFAULT_MAX_ROWS;
  const rows = stage.periods * plan.rows;
  if (rows > maxRows) {
    throw new BadInputError(`maxRows: the series' ${stage.periods} periods of ${plan.rows} rows hold ${rows} rows, more than the limit of ${maxRows} (raise maxRows to allow it)`);
  }
  return {
    plan,
    seriesFolder: join(dataRoot, DATA_ROOT_LAYERS.synth, stage.series),
    baseInputsHash: hashOfValue({ version: SERIES_VERSION, spec: sha256Hex(loaded.text), options }),
  };
}

/**
 * The byte guards, before anything is written: the whole series' estimated bytes (every period's dataset
 * and reference segment, from a sample of rows) against maxBytes, and those of the periods not generated
 * yet against the disk's free space. Returns the estimate of the periods still to generate.
 */
export async function checkSeriesBytes(loaded: LoadedSeries, stage: GenerateSeriesConfig): Promise<number> {
  const { plan, seriesFolder } = loaded;
  const maxBytes = stage.maxBytes ?? DEFAULT_MAX_BYTES;
  const folders = { seriesFolder };
  let allRows = 0;
  let rowsToDo = 0;
  for (let period = 1; period <= stage.periods; period++) {
    const rows = plan.rows + newRowsIn(plan, period);
    allRows += rows;
    if (!periodDone(folders, period)) rowsToDo += rows;
  }
  const perRow = estimateTableBytes(plan.spec, plan.table.name, plan.options.format, 1_000_000) / 1_000_000;
  const total = Math.ceil(perRow * allRows);
  if (total > maxBytes) {
    throw new BadInputError(`maxBytes: the series' ${stage.periods} periods would take about ${total} bytes (datasets and reference table), more than the limit of ${maxBytes} (raise maxBytes to allow it)`);
  }
  const toDo = Math.ceil(perRow * rowsToDo);
  await checkFreeSpace(seriesFolder, toDo, `the periods of series "${stage.series}" still to generate`);
  return toDo;
}

/** The stage's preflight: the spec, the series' settings and every size guard. Writes nothing. */
export async function preflightGenerateSeries({ dataRoot, stage }: { stage: GenerateSeriesConfig; dataRoot: string }): Promise<void> {
  await checkSeriesBytes(await loadSeries(dataRoot, stage), stage);
}

export interface PeriodOutcome {
  period: number;
  reused: boolean;
  newRows: number;
  returningRows: number;
  outputs: StageOutputs;
}

export async function runSeriesPeriod(
  dataRoot: string,
  stage: GenerateSeriesConfig,
  period: number,
  onProgress: (details: Record<string, unknown>) => void = () => undefined,
  signal?: AbortSignal,
  runId?: string,
): Promise<PeriodOutcome> {
  const { plan, seriesFolder, baseInputsHash } = await loadSeries(dataRoot, stage);
  if (period < 1 || period > stage.periods) throw new BadInputError(`period ${period} is outside 1 … ${stage.periods}`);
  const result = await generateSeriesPeriod(plan, period, { seriesFolder }, baseInputsHash, onProgress, signal, runId);
  // Only the last period lists the series' datasets: listing 1 … k at every period k would cost O(periods²).
  const index = period === stage.periods ? await writeDatasetIndex(seriesFolder, stage, period) : undefined;
  return {
    period,
    reused: result.reused,
    newRows: result.newRows,
    returningRows: result.returningRows,
    outputs: {
      dataset: { uri: pathToFileURL(result.dataset).href },
      ...(index ? { datasets: { uri: pathToFileURL(index).href } } : {}),
      spec: { uri: pathToFileURL(result.spec).href },
      reference: { uri: pathToFileURL(result.reference).href },
    },
  };
}

/** One dataset of a series, as the QA stage reads it. */
export interface SeriesDatasetEntry {
  name: string;
  uri: string;
}

/**
 * synth/<series>/period-<k>/datasets.json, written by the series' last period k: the datasets of periods
 * 1 … k, so a later stage gets them as references instead of searching folders. Deterministic, so a
 * retry or a rerun rewriting it is harmless.
 */
async function writeDatasetIndex(seriesFolder: string, stage: GenerateSeriesConfig, period: number): Promise<string> {
  const entries: SeriesDatasetEntry[] = [];
  for (let k = 1; k <= period; k++) entries.push({ name: `dataset_${k}`, uri: pathToFileURL(datasetFile({ seriesFolder }, k, stage.format)).href });
  const path = join(seriesFolder, `period-${period}`, 'datasets.json');
  await writeFileAtomic(path, `${JSON.stringify(entries, null, 2)}\n`);
  return path;
}

type SeriesRequest = StageRequest<GenerateSeriesConfig>;

/** A scheduled run extends the series up to its own period; other runs make the configured number. */
function seriesStageOf(request: SeriesRequest): GenerateSeriesConfig {
  return request.period === undefined ? request.stage : { ...request.stage, periods: request.period };
}

/** The activities the seriesRun child workflow calls (their names are part of recorded histories). */
export function generateSeriesActivities(deps: ActivityDeps) {
  return {
    /** Checks a series against its spec before any period is written; returns what the periods share. */
    planSeriesRun: asActivity(deps, (request: SeriesRequest) => runOfRequest(request), async (request, { dataRoot, logger }) => {
      const stage = seriesStageOf(request);
      if (stage.periods < 1) throw new BadInputError(`the run's period ${stage.periods} comes before the schedule's first period`);
      const loaded = await loadSeries(dataRoot, stage);
      const { baseInputsHash, seriesFolder, plan } = loaded;
      const bytesToWrite = await checkSeriesBytes(loaded, stage);
      logger.info({ event: 'SeriesPlanned', series: stage.series, periods: stage.periods, rows: plan.rows, bytesToWrite }, 'series planned');
      return { baseInputsHash, seriesFolder: pathToFileURL(seriesFolder).href };
    }),
    /** One period of a series: reused if an identical one exists, never overwritten otherwise. */
    generateSeriesPeriod: asActivity(
      deps,
      (input: { request: SeriesRequest; period: number }) => runOfRequest(input.request, { period: input.period }),
      async (input, { dataRoot, logger, reportProgress, signal }) => {
        const outcome = await runSeriesPeriod(dataRoot, seriesStageOf(input.request), input.period, reportProgress, signal, input.request.runId);
        logger.info({ event: 'GeneratingOutputs', series: input.request.stage.series, ...outcome }, outcome.reused ? 'period already generated' : 'period generated');
        return outcome;
      },
    ),
  };
}

export type GenerateSeriesActivities = ReturnType<typeof generateSeriesActivities>;
