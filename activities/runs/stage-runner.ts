/**
 * The part every stage shares: hash what determines its outputs, reuse an earlier identical result unless
 * asked to overwrite, otherwise do the work and record it for later runs.
 */
import type { Logger } from 'pino';
import type { StageConfig } from '../../config/pipeline-config';
import type { BlobStore } from '../storage/blob-store';
import { hashOfValue } from '../storage/hashing';
import { findCompletedStage, recordCompletedStage } from './stage-index';
import type { StageOutputs, StageRequest, StageResult } from './types';

export interface StageContext<S extends StageConfig = StageConfig> {
  request: StageRequest<S>;
  /** Absolute path of the data root. */
  dataRoot: string;
  blobStore: BlobStore;
  logger: Logger;
  now: () => Date;
  /** Reports progress (an activity heartbeat under Temporal). */
  reportProgress: (details: Record<string, unknown>) => void;
}

export interface StageDefinition<S extends StageConfig = StageConfig> {
  /** Bumped when the stage's outputs change shape, so older results are not reused. */
  version: number;
  /** Everything that determines the stage's outputs; its hash decides whether the stage can be skipped. */
  inputs(context: StageContext<S>): Promise<unknown>;
  run(context: StageContext<S>): Promise<StageOutputs>;
}

export async function runStage<S extends StageConfig>(
  definition: StageDefinition<S>,
  context: StageContext<S>,
  attempt: number,
): Promise<StageResult> {
  const { request, dataRoot, logger } = context;
  const stageName = request.stage.stage;
  const inputsHash = hashOfValue({ stage: stageName, version: definition.version, inputs: await definition.inputs(context) });

  if (!request.overwrite) {
    const earlier = await findCompletedStage(dataRoot, stageName, inputsHash, context.blobStore);
    if (earlier) {
      logger.info({ event: 'StageSkipped', stage: stageName, inputsHash, reusedFrom: earlier.runId }, 'outputs already exist');
      return {
        status: 'skipped',
        inputsHash,
        outputs: earlier.outputs,
        attempt,
        note: `outputs with the same inputs already made by run ${earlier.runId}`,
      };
    }
  }

  logger.info({ event: 'StageStart', stage: stageName, inputsHash, attempt }, 'stage started');
  const outputs = await definition.run(context);
  await recordCompletedStage(dataRoot, {
    runId: request.runId,
    stage: stageName,
    inputsHash,
    completedAt: context.now().toISOString(),
    outputs,
  });
  logger.info({ event: 'StageEnd', stage: stageName, inputsHash, outputs }, 'stage finished');
  return { status: 'succeeded', inputsHash, outputs, attempt };
}
