/**
 * The part every one-activity stage shares: hash what determines its outputs, reuse an earlier identical
 * result unless asked to overwrite, otherwise do the work and record it for later runs.
 */
import type { Logger } from 'pino';

import type { CodingStoreConfig } from '../coding/coding-plan';
import type { OpenedCodaStore } from '../coding/open-coda-store';
import type { OpenedUuidTable } from '../deid/open-uuid-table';
import type { UuidTableConfig } from '../deid/uuid-table';
import type { BlobStore } from '../storage/blob-store';
import { hashOfValue } from '../storage/hashing';
import type { StageConfigFor, StageDefinition } from './stage-definition';
import { findCompletedStage, recordCompletedStage } from './stage-index';
import type { StageOutputs, StageRequest, StageResult } from './types';

export interface StageContext<Config = { stage: string }> {
  request: StageRequest<Config>;
  /** Absolute path of the data root. */
  dataRoot: string;
  /** The worker's data home, where local stand-ins for cloud services keep their files (e.g. `.drive/`). */
  dataHome?: string;
  blobStore: BlobStore;
  logger: Logger;
  now: () => Date;
  /** Reports progress: an activity heartbeat, whose details a retried attempt receives as `resumeFrom`. */
  reportProgress: (details: Record<string, unknown>) => void;
  /** The last progress the previous attempt reported, if this is a retry. */
  resumeFrom?: unknown;
  /** Aborted when the activity is cancelled (run terminated or cancelled, worker shutting down). */
  signal: AbortSignal;
  /** Opens the UUID table a stage's config names (de-identification); the caller closes it. */
  openUuidTable(config: UuidTableConfig): Promise<OpenedUuidTable>;
  /** Opens the Coda store a coding plan names (`coding.store`); the caller closes it. */
  openCodaStore(config: CodingStoreConfig): Promise<OpenedCodaStore>;
}

/** What a one-activity stage does; paired with its definition in activities/registry.ts. */
export interface StageImplementation<D extends StageDefinition = StageDefinition> {
  /** Bumped when the stage's outputs change shape, so older results are not reused. */
  version: number;
  /** Everything that determines the stage's outputs; its hash decides whether the stage can be skipped. */
  inputs(context: StageContext<StageConfigFor<D>>): Promise<unknown>;
  run(context: StageContext<StageConfigFor<D>>): Promise<StageOutputs>;
  /**
   * Checks the files the stage's config names (a spec, say) without writing anything: run by `beginRun`
   * for every stage before the run creates anything, so a bad file fails the run at its start. Throws
   * BadInputError naming the field.
   */
  preflight?(input: { stage: StageConfigFor<D>; dataRoot: string }): Promise<void>;
}

export async function runStage<Config extends { stage: string }>(
  implementation: { version: number; inputs(context: StageContext<Config>): Promise<unknown>; run(context: StageContext<Config>): Promise<StageOutputs> },
  context: StageContext<Config>,
  attempt: number,
): Promise<StageResult> {
  const { request, dataRoot, logger } = context;
  const stageName = request.stage.stage;
  const inputsHash = hashOfValue({ stage: stageName, version: implementation.version, inputs: await implementation.inputs(context) });

  if (!request.overwrite) {
    const earlier = await findCompletedStage(dataRoot, stageName, inputsHash, context.blobStore);
    if (earlier?.runId === request.runId) {
      // An earlier attempt of this very run finished the work but its completion never reached the workflow.
      logger.info({ event: 'StageEnd', stage: stageName, inputsHash, attempt }, 'an earlier attempt of this run completed the stage');
      return { status: 'succeeded', inputsHash, outputs: earlier.outputs, attempt, note: 'an earlier attempt of this run completed the stage; its result was lost on the way back' };
    }
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
  const outputs = await implementation.run(context);
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
