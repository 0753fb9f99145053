/**
 * qa as one activity: how runs planned before qa became a child workflow (qa.workflow.ts) still run
 * it, so their recorded plan finds the activity it names. The same steps as the child workflow, in turn:
 * plan the batch, check every dataset, write the batch's summary and report. Whole-stage skip-if-done
 * comes from the stage runner, as before.
 */
import { pathToFileURL } from 'node:url';

import type { StageImplementation } from '../runs/stage-runner';
import type { StageOutputs } from '../runs/types';
import type { qaStage } from './qa.stage';
import { checkDataset, datasetInputsHash, finishQaBatch, planQaBatch, preflightQa, type QaDatasetOutcome } from './qa-batch';

export const qaImplementation: StageImplementation<typeof qaStage> = {
  version: 2,
  async preflight({ dataRoot, stage }) {
    await preflightQa(dataRoot, stage);
  },
  async inputs(context) {
    const { inputsHash } = await planQaBatch(context.dataRoot, context.request);
    // The default layout hashes as before the option existed.
    const { layout, ...stage } = context.request.stage;
    return { stage: layout === 'per-dataset' ? stage : context.request.stage, datasets: inputsHash };
  },
  async run({ dataRoot, request, logger, reportProgress, signal }): Promise<StageOutputs> {
    const plan = await planQaBatch(dataRoot, request);
    const outcomes: QaDatasetOutcome[] = [];
    for (const dataset of plan.datasets) {
      const folder = await checkDataset(dataRoot, request.runId, request.stage, dataset, logger, reportProgress, signal);
      const inputsHash = await datasetInputsHash(dataRoot, request.stage, dataset);
      outcomes.push({ name: dataset.name, status: 'done', inputsHash, folder: pathToFileURL(folder).href, runId: request.runId });
    }
    return finishQaBatch(dataRoot, request.runId, request.stage, outcomes);
  },
};
