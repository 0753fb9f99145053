/**
 * generate-synthetic as activities: a plan (the batch loaded and checked, what is done already, the
 * shards), one activity per shard, one per table joining its shards, and one finishing the batch,
 * orchestrated by the syntheticRun child workflow (generate-synthetic.workflow.ts). Each runs on any
 * worker of the task queue. The domain code is synthetic-batch.ts.
 */
import { join } from 'node:path';

import { type ActivityDeps, type ActivityScope, asActivity, runOfRequest } from '../runs/activity-wrapper';
import { DATA_ROOT_LAYERS } from '../runs/data-root';
import type { StageRequest, StageResult } from '../runs/types';
import { shardRanges } from './generate-synthetic.stage';
import {
  checkSizes,
  type ConcatInput,
  concatTable,
  finishBatch,
  type FinishInput,
  generateShard,
  type GenerateSyntheticConfig,
  type JoinAsTheyFinishInput,
  joinShardsAsTheyFinish,
  loadBatch,
  planBatch,
  type ShardInput,
  type SyntheticJob,
  type SyntheticPlan,
  type TableOutcome,
} from './synthetic-batch';

export type { GenerateSyntheticConfig } from './synthetic-batch';

/** The stage's preflight: every spec of the batch readable, valid, within maxRows, names unique. Writes nothing. */
export async function preflightGenerateSynthetic({ dataRoot, stage }: { stage: GenerateSyntheticConfig; dataRoot: string }): Promise<void> {
  // Both size guards, so a batch too big for its limits (or for the disk) is refused before the run starts.
  await checkSizes(await loadBatch(dataRoot, stage), stage, join(dataRoot, DATA_ROOT_LAYERS.synth));
}

/** The run as the stage's activities need it: the request without the upstream outputs it never reads. */
export function syntheticJobOf(request: StageRequest<GenerateSyntheticConfig>): SyntheticJob {
  return { runId: request.runId, pipelineName: request.pipelineName, dataRoot: request.dataRoot, stage: request.stage, overwrite: request.overwrite };
}

const runOfJob = (job: SyntheticJob, bindings: Record<string, unknown> = {}) => runOfRequest(job, bindings);

/** One line for the stage's record: what the batch did. */
export function batchNote(generated: number, reused: number): string {
  return `${generated + reused} dataset(s): ${generated} generated, ${reused} already there`;
}

/** Plan, shards, joins and finish in this one activity: for runs planned before the stage ran as a child workflow. */
async function runWholeBatch(deps: ActivityDeps, request: StageRequest<GenerateSyntheticConfig>, scope: ActivityScope): Promise<StageResult> {
  const job = syntheticJobOf(request);
  const work = { ...scope, blobStore: deps.blobStore, now: deps.now };
  const plan = await planBatch(job, work);
  if (plan.reused) return { status: 'skipped', inputsHash: plan.inputsHash, outputs: plan.reused.outputs, attempt: scope.attempt, note: `outputs with the same inputs already made by run ${plan.reused.runId}` };
  const tables: TableOutcome[] = [];
  for (const dataset of plan.datasets.filter((candidate) => !candidate.reused)) {
    for (const table of dataset.tables) {
      const parts = [];
      for (const shard of shardRanges(table.rows, table.shardRows ?? job.stage.shardRows)) parts.push(await generateShard({ job, dataset, table: table.name, shard, ...(plan.commentLine ? { commentLine: plan.commentLine } : {}) }, work));
      tables.push(await concatTable({ job, dataset, table: table.name, parts, ...(plan.commentLine ? { commentLine: plan.commentLine } : {}) }, work));
    }
  }
  const outcome = await finishBatch({ job, plan, tables }, work);
  return { status: outcome.generated === 0 ? 'skipped' : 'succeeded', inputsHash: plan.inputsHash, outputs: outcome.outputs, attempt: scope.attempt, note: batchNote(outcome.generated, outcome.reused) };
}

/** The activities the syntheticRun child workflow calls (their names are part of recorded histories). */
export function generateSyntheticActivities(deps: ActivityDeps) {
  const work = (scope: ActivityScope) => ({ ...scope, blobStore: deps.blobStore, now: deps.now });
  return {
    /** Loads and checks the batch, finds what is done already, splits the rest into shards; writes nothing. */
    planSyntheticBatch: asActivity(deps, (request: StageRequest<GenerateSyntheticConfig>) => runOfRequest(request), async (request, scope): Promise<SyntheticPlan> => planBatch(syntheticJobOf(request), work(scope))),
    /** One row range of one table, as a part file. */
    generateSyntheticShard: asActivity(
      deps,
      (input: ShardInput) => runOfJob(input.job, { dataset: input.dataset.name, table: input.table, shard: input.shard.index }),
      async (input, scope) => generateShard(input, work(scope)),
    ),
    /** A table's parts joined in order into the table file, then uploaded. */
    concatSyntheticTable: asActivity(deps, (input: ConcatInput) => runOfJob(input.job, { dataset: input.dataset.name, table: input.table }), async (input, scope) => concatTable(input, work(scope))),
    /** A table's parts joined in order as its shards commit them, started with the shards; then uploaded. */
    joinSyntheticShardsAsTheyFinish: asActivity(
      deps,
      (input: JoinAsTheyFinishInput) => runOfJob(input.job, { dataset: input.dataset.name, table: input.table }),
      async (input, scope) => joinShardsAsTheyFinish(input, work(scope)),
    ),
    /** spec.json, warnings, records, the batch's summary and dataset index; removes the parts folders. */
    finishSyntheticBatch: asActivity(deps, (input: FinishInput) => runOfJob(input.job), async (input, scope) => finishBatch(input, work(scope))),
    /** The stage as one activity, for runs whose recorded plan says so (started before it ran as a child workflow). */
    'generate-synthetic': asActivity(deps, (request: StageRequest<GenerateSyntheticConfig>) => runOfRequest(request), async (request, scope) => runWholeBatch(deps, request, scope)),
  };
}

export type GenerateSyntheticActivities = ReturnType<typeof generateSyntheticActivities>;
