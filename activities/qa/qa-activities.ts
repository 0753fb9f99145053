/**
 * The activities the qaRun child workflow calls (qa.workflow.ts): plan the batch, check one dataset
 * (skipped when done before with the same inputs, unless the run overwrites), finish the batch. Their
 * names are part of recorded histories.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { type ActivityDeps, asActivity, runOfRequest } from '../runs/activity-wrapper';
import { findCompletedStage, recordCompletedStage } from '../runs/stage-index';
import { checkDataset, DATASET_RESULT_FILE, datasetInputsHash, finishQaBatch, planQaBatch, type QaDatasetOutcome, type QaDatasetTask, type QaRequest } from './qa-batch';

/** The skip-if-done index's name for one dataset's QA (beside the stages' own, in manifests/stages/). */
export const QA_DATASET_INDEX = 'qa-dataset';

export function qaBatchActivities(deps: ActivityDeps) {
  return {
    /** Which datasets the batch checks, against which spec and table; nothing written. */
    planQaBatch: asActivity(deps, (request: QaRequest) => runOfRequest(request), async (request, { dataRoot, logger }) => {
      const plan = await planQaBatch(dataRoot, request);
      logger.info({ event: 'QaPlanned', datasets: plan.datasets.length, specs: [...new Set(plan.datasets.map((dataset) => dataset.spec))] }, 'QA batch planned');
      return plan;
    }),
    /** One dataset's QA files, or an earlier identical result's. */
    qaDataset: asActivity(
      deps,
      (input: { request: QaRequest; dataset: QaDatasetTask }) => runOfRequest(input.request, { dataset: input.dataset.name }),
      async ({ request, dataset }, { dataRoot, logger, reportProgress, signal }): Promise<QaDatasetOutcome> => {
        const inputsHash = await datasetInputsHash(dataRoot, request.stage, dataset);
        if (!request.overwrite) {
          const earlier = await findCompletedStage(dataRoot, QA_DATASET_INDEX, inputsHash, deps.blobStore);
          if (earlier) {
            // This run's own entry: an earlier attempt finished but its result never reached the workflow.
            const status = earlier.runId === request.runId ? 'done' : 'reused';
            logger.info({ event: 'StageSkipped', dataset: dataset.name, inputsHash, reusedFrom: earlier.runId }, 'dataset already checked');
            return { name: dataset.name, status, inputsHash, folder: earlier.outputs.folder!.uri, runId: earlier.runId };
          }
        }
        const written = await checkDataset(dataRoot, request.runId, request.stage, dataset, logger, reportProgress, signal);
        const folder = pathToFileURL(written).href;
        // The result file too: a folder counts as there even when emptied, the file is checked.
        const outputs = { folder: { uri: folder }, result: { uri: pathToFileURL(join(written, DATASET_RESULT_FILE)).href } };
        await recordCompletedStage(dataRoot, { runId: request.runId, stage: QA_DATASET_INDEX, inputsHash, completedAt: deps.now().toISOString(), outputs });
        return { name: dataset.name, status: 'done', inputsHash, folder, runId: request.runId };
      },
    ),
    /** The batch's summary, report and BIT-layout files; returns the stage's outputs. */
    finishQaBatch: asActivity(deps, (input: { request: QaRequest; outcomes: QaDatasetOutcome[] }) => runOfRequest(input.request), async ({ request, outcomes }, { dataRoot, logger }) => {
      const outputs = await finishQaBatch(dataRoot, request.runId, request.stage, outcomes);
      logger.info({ event: 'QaFinished', datasets: outcomes.length, reused: outcomes.filter((outcome) => outcome.status === 'reused').length }, 'QA batch summarised');
      return outputs;
    }),
  };
}

export type QaBatchActivities = ReturnType<typeof qaBatchActivities>;
