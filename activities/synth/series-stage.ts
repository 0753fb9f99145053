/**
 * generate-series as activities: a plan (validation, nothing written) and one activity per period,
 * orchestrated by the seriesRun child workflow. Periods live in synth/<series>/ of the data root.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StageConfigOf } from '../../config/pipeline-config';
import { BadInputError } from '../errors';
import { DATA_ROOT_LAYERS } from '../runs/data-root';
import type { StageOutputs } from '../runs/types';
import { hashOfValue, sha256Hex } from '../storage/hashing';
import { loadSynthSpec } from './load-spec';
import { generateSeriesPeriod, planSeries, type SeriesPlan } from './series';
import { SpecError } from './spec';

export type GenerateSeriesConfig = StageConfigOf<'generate-series'>;

/** Bumped when period outputs change shape. */
const SERIES_VERSION = 1;

export interface LoadedSeries {
  plan: SeriesPlan;
  seriesFolder: string;
  /** What every period's content depends on: the spec text and the options, except how many periods. */
  baseInputsHash: string;
}

export async function loadSeries(dataRoot: string, stage: GenerateSeriesConfig): Promise<LoadedSeries> {
  const path = join(dataRoot, stage.spec);
  let loaded;
  try {
    loaded = await loadSynthSpec(path, stage.specFormat);
  } catch (err) {
    if (err instanceof SpecError) throw new BadInputError(err.message);
    throw err;
  }
  const { stage: _name, spec: _spec, periods: _periods, retry: _retry, startToCloseTimeout: _timeout, ...options } = stage;
  const plan = planSeries(loaded.spec, { ...options, periods: stage.periods });
  return {
    plan,
    seriesFolder: join(dataRoot, DATA_ROOT_LAYERS.synth, stage.series),
    baseInputsHash: hashOfValue({ version: SERIES_VERSION, spec: sha256Hex(loaded.text), options }),
  };
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
): Promise<PeriodOutcome> {
  const { plan, seriesFolder, baseInputsHash } = await loadSeries(dataRoot, stage);
  if (period < 1 || period > stage.periods) throw new BadInputError(`period ${period} is outside 1 … ${stage.periods}`);
  const result = await generateSeriesPeriod(plan, period, { seriesFolder }, baseInputsHash, onProgress);
  return {
    period,
    reused: result.reused,
    newRows: result.newRows,
    returningRows: result.returningRows,
    outputs: {
      dataset: { uri: pathToFileURL(result.dataset).href },
      spec: { uri: pathToFileURL(result.spec).href },
      reference: { uri: pathToFileURL(result.reference).href },
    },
  };
}
