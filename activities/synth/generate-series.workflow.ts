/**
 * The generate-series stage's child workflow: one activity per period, in order (period k reads the
 * reference table that periods 1 … k-1 wrote). A failed period is retried on its own; periods already
 * generated are reused. Long series continue as new every PERIODS_PER_RUN periods.
 * Workflow code: deterministic, no Node built-ins, activities imported as types only.
 */
import { continueAsNew, proxyActivities, setCurrentDetails } from '@temporalio/workflow';

import { stageActivityOptions } from '../runs/stage-definition';
import type { StageActivityOptions, StageRequest, StageResult } from '../runs/types';
import type { GenerateSeriesActivities, GenerateSeriesConfig } from './generate-series';
import { generateSeriesStage } from './generate-series.stage';

export interface SeriesRunInput {
  request: StageRequest<GenerateSeriesConfig>;
  /** The stage's activity options from the run's plan (absent in runs started before the stage registry). */
  options?: StageActivityOptions;
  /** Where this execution starts (after continue-as-new). */
  fromPeriod?: number;
  generated?: number;
  reused?: number;
}

/** Keeps each execution's history short whatever the length of the series. */
export const PERIODS_PER_RUN = 100;

export async function seriesRun(input: SeriesRunInput): Promise<StageResult> {
  const { request } = input;
  const stage = request.stage;
  const options = input.options ?? stageActivityOptions(generateSeriesStage.policy, stage);
  const planning = proxyActivities<GenerateSeriesActivities>({ ...options, summary: `plan series ${stage.series}` });
  const { baseInputsHash, seriesFolder } = await planning.planSeriesRun(request);

  let generated = input.generated ?? 0;
  let reused = input.reused ?? 0;
  let last: StageResult['outputs'] = {};
  const first = input.fromPeriod ?? 1;
  // A scheduled run carries its period: the series is extended up to it, one period per weekly run.
  const periods = request.period ?? stage.periods;
  for (let period = first; period <= periods; period++) {
    if (period - first >= PERIODS_PER_RUN) {
      await continueAsNew<typeof seriesRun>({ ...input, fromPeriod: period, generated, reused });
    }
    setCurrentDetails(`Series **${stage.series}**: period ${period} of ${periods}`);
    const { generateSeriesPeriod } = proxyActivities<GenerateSeriesActivities>({ ...options, summary: `period ${period} of ${periods} of series ${stage.series}` });
    const outcome = await generateSeriesPeriod({ request, period });
    if (outcome.reused) reused += 1;
    else generated += 1;
    last = outcome.outputs;
  }
  return {
    status: generated === 0 ? 'skipped' : 'succeeded',
    inputsHash: baseInputsHash,
    outputs: { series: { uri: seriesFolder }, latestDataset: last.dataset!, latestSpec: last.spec!, ...(last.datasets ? { datasets: last.datasets } : {}) },
    attempt: 1,
    note: `${periods} periods: ${generated} generated, ${reused} already there`,
  };
}
