/**
 * The generate-synthetic stage's child workflow: a plan, then every shard of every table of the batch as
 * its own activity (in parallel, on any worker's shard queue), each table of several shards joined by an
 * activity started with its shards that appends each part as it is committed, and a last activity writing
 * the batch's summary. A failed shard is retried on its own.
 * Workflow code: deterministic, no Node built-ins, activities imported as types only.
 */
import { msToNumber } from '@temporalio/common/lib/time';
import { ApplicationFailure, CancellationScope, patched, proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';

import { stageActivityOptions } from '../runs/stage-definition';
import type { StageActivityOptions, StageRequest, StageResult } from '../runs/types';
import type { GenerateSyntheticActivities, GenerateSyntheticConfig } from './generate-synthetic';
import { generateSyntheticStage, shardRanges, shardTaskQueue } from './generate-synthetic.stage';
import type { JoinedPart, ShardOutcome, TableOutcome } from './synthetic-batch';

export interface SyntheticRunInput {
  request: StageRequest<GenerateSyntheticConfig>;
  /** The stage's activity options from the run's plan. */
  options?: StageActivityOptions;
}

/** The parts the early join appended are the ones the shards committed (same bytes, same digest), or the stage fails. */
function checkJoinedParts(table: string, joined: JoinedPart[], parts: ShardOutcome[]): void {
  const byIndex = new Map(parts.map((part) => [part.index, part]));
  const differing = joined.filter((part) => byIndex.get(part.index)?.sha256 !== part.sha256 || byIndex.get(part.index)?.bytes !== part.bytes);
  if (differing.length > 0 || joined.length !== parts.length) {
    throw ApplicationFailure.nonRetryable(`${table}: the join appended parts other than its shards wrote (shards ${differing.map((part) => part.index).join(', ') || 'count'}); rerun the stage`, 'JoinMismatch');
  }
}

export async function syntheticRun(input: SyntheticRunInput): Promise<StageResult> {
  const { request } = input;
  const options = input.options ?? stageActivityOptions(generateSyntheticStage.policy, request.stage);
  // What the activities need of the run: not the upstream outputs, which would only lengthen the history.
  const job = { runId: request.runId, pipelineName: request.pipelineName, dataRoot: request.dataRoot, stage: request.stage, overwrite: request.overwrite };
  const { planSyntheticBatch } = proxyActivities<GenerateSyntheticActivities>({ ...options, summary: 'plan the synthetic batch: specs, size limits, datasets done already, shards' });
  const plan = await planSyntheticBatch(request);
  if (plan.reused) {
    const sameRun = plan.reused.runId === request.runId;
    return {
      status: sameRun ? 'succeeded' : 'skipped',
      inputsHash: plan.inputsHash,
      outputs: plan.reused.outputs,
      attempt: 1,
      note: sameRun ? 'an earlier attempt of this run completed the stage' : `outputs with the same inputs already made by run ${plan.reused.runId}`,
    };
  }

  const pending = plan.datasets.filter((dataset) => !dataset.reused);
  const shards = pending.reduce((sum, dataset) => sum + dataset.tables.reduce((n, table) => n + table.shards, 0), 0);
  let shardsDone = 0;
  setCurrentDetails(`Synthetic batch: ${plan.datasets.length} dataset(s), ${pending.length} to generate in ${shards} shard(s)`);
  const commentLine = plan.commentLine ? { commentLine: plan.commentLine } : {};
  // Runs recorded before the shard queue and the join started with the shards keep their own shape.
  const shardQueueAndEarlyJoin = patched('shard-queue-and-early-join');
  const shardQueue = shardQueueAndEarlyJoin ? { taskQueue: shardTaskQueue(workflowInfo().taskQueue) } : {};
  // The early join waits for parts at most half its attempt's time, then leaves the table to a join after the shards.
  const waitLimitMs = Math.floor(msToNumber(options.startToCloseTimeout) / 2);
  const tables: TableOutcome[] = await Promise.all(
    pending.flatMap((dataset) =>
      dataset.tables.map(async (table) => {
        const shardRows = table.shardRows ?? request.stage.shardRows;
        const ranges = shardRanges(table.rows, shardRows);
        const shardsDoneOf = () =>
          Promise.all(
            ranges.map(async (shard) => {
              const { generateSyntheticShard } = proxyActivities<GenerateSyntheticActivities>({
                ...options,
                ...shardQueue,
                summary: `${dataset.name}/${table.name}: rows ${shard.start}–${shard.end} (shard ${shard.index + 1} of ${ranges.length})`,
              });
              const part = await generateSyntheticShard({ job, dataset, table: table.name, shard, ...commentLine });
              shardsDone += 1;
              setCurrentDetails(`Synthetic batch: ${shardsDone} of ${shards} shard(s) generated`);
              return part;
            }),
          );
        let parts: ShardOutcome[];
        if (shardQueueAndEarlyJoin && ranges.length > 1) {
          // The join starts with the shards and appends each part as it is committed.
          const { joinSyntheticShardsAsTheyFinish } = proxyActivities<GenerateSyntheticActivities>({ ...options, summary: `${dataset.name}/${table.name}: join ${ranges.length} shards as they finish` });
          const joinScope = new CancellationScope();
          const joining = joinScope.run(() => joinSyntheticShardsAsTheyFinish({ job, dataset, table: table.name, rows: table.rows, shardRows, waitLimitMs, ...commentLine }));
          // A join failing while the shards run is seen below, once they are done; until then it must not
          // count as an unhandled rejection, which fails the workflow task.
          joining.catch(() => undefined);
          try {
            parts = await shardsDoneOf();
          } catch (err) {
            joinScope.cancel();
            await joining.catch(() => undefined);
            throw err;
          }
          const joined = await joining;
          if ('joined' in joined) {
            checkJoinedParts(`${dataset.name}/${table.name}`, joined.parts, parts);
            return joined.joined;
          }
        } else {
          parts = await shardsDoneOf();
        }
        const { concatSyntheticTable } = proxyActivities<GenerateSyntheticActivities>({ ...options, summary: `${dataset.name}/${table.name}: join ${parts.length} shard(s)` });
        return concatSyntheticTable({ job, dataset, table: table.name, parts, ...commentLine });
      }),
    ),
  );

  const { finishSyntheticBatch } = proxyActivities<GenerateSyntheticActivities>({ ...options, summary: 'write the synthetic batch summary' });
  const outcome = await finishSyntheticBatch({ job, plan, tables });
  return {
    status: outcome.generated === 0 ? 'skipped' : 'succeeded',
    inputsHash: plan.inputsHash,
    outputs: outcome.outputs,
    attempt: 1,
    note: `${outcome.generated + outcome.reused} dataset(s): ${outcome.generated} generated, ${outcome.reused} already there`,
  };
}
