/**
 * The qa stage's child workflow: plan the batch, check each dataset in its own activity (a few at a
 * time; one that fails is retried on its own, ones already checked with the same inputs are reused),
 * then write the batch's summary and report. Payloads carry references: dataset files and QA folders.
 * Workflow code: deterministic, no Node built-ins, activities imported as types only.
 */
import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';

import { stageActivityOptions } from '../runs/stage-definition';
import type { StageActivityOptions, StageRequest, StageResult } from '../runs/types';
import { qaStage } from './qa.stage';
import type { QaBatchActivities } from './qa-activities';
import type { QaConfig } from './qa-batch';

export interface QaRunInput {
  request: StageRequest<QaConfig>;
  /** The stage's activity options from the run's plan. */
  options?: StageActivityOptions;
}

/** Datasets checked at once: each is one streaming pass, CPU-bound, so a few keep a worker busy without crowding it. */
export const DATASETS_AT_ONCE = 4;

/** Runs `body` on every item, at most `limit` at a time, results in the items' order. */
async function eachAtMost<T, R>(items: readonly T[], limit: number, body: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await body(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

export async function qaRun(input: QaRunInput): Promise<StageResult> {
  const { request } = input;
  const options = input.options ?? stageActivityOptions(qaStage.policy, request.stage);
  const plan = await proxyActivities<QaBatchActivities>({ ...options, summary: 'plan the QA batch' }).planQaBatch(request);
  const total = plan.datasets.length;
  let finished = 0;
  setCurrentDetails(`QA of ${total} datasets`);
  const outcomes = await eachAtMost(plan.datasets, DATASETS_AT_ONCE, async (dataset, index) => {
    const { qaDataset } = proxyActivities<QaBatchActivities>({ ...options, summary: `QA of ${dataset.name} (dataset ${index + 1} of ${total}) against ${dataset.spec}` });
    const outcome = await qaDataset({ request, dataset });
    finished += 1;
    setCurrentDetails(`QA of ${total} datasets: ${finished} checked`);
    return outcome;
  });
  const outputs = await proxyActivities<QaBatchActivities>({ ...options, summary: `summary and report of ${total} datasets` }).finishQaBatch({ request, outcomes });
  const reused = outcomes.filter((outcome) => outcome.status === 'reused').length;
  return {
    status: reused === total ? 'skipped' : 'succeeded',
    inputsHash: plan.inputsHash,
    outputs,
    attempt: 1,
    note: `${total} datasets: ${total - reused} checked, ${reused} already checked`,
  };
}
