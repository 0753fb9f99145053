/**
 * One pipeline run: the stages of its config, in order, each a retried activity or a child workflow.
 * The first activity validates the config and plans every stage from the stage registry; the plan is in
 * the run's history, so a later change to a schema or a policy never changes how a recorded run replays.
 * The workflow keeps the run's record (a RunManifest), answers the `status` query with it, keeps the
 * search attributes current and saves the record to manifests/ after every stage, so a later run can
 * resume from any stage.
 */
import { defineSearchAttributeKey, type Duration, RetryState } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  defineQuery,
  defineUpdate,
  executeChild,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';

import type { BookkeepingActivities, FailureDetails } from '../activities';
import type { StageName } from '../activities/registry';
import type { RunManifest, StageOutputs, StagePlan, StageRecord, StageRequest, StageResult } from '../activities/runs/types';
import { type RunStatusName, SEARCH_ATTRIBUTES } from '../config/constants';
import type { PipelineConfig, StageConfig } from '../config/pipeline-config';
import { preRegistryPlan, STAGE_REGISTRY_PATCH } from './pre-registry';

export interface PipelineRunInput {
  /** Absent for runs a schedule starts: derived from the scheduled time and its period. */
  runId?: string;
  /** Validated by the client before start, and again by the run's first activity. */
  config: PipelineConfig;
  /** Redo stages even when their outputs already exist with the same inputs. */
  overwrite?: boolean;
  /** Reuse the outputs of an earlier run's stages before `fromStage`; run `fromStage` and the rest. */
  resume?: { fromRunId: string; fromStage: StageName };
  /** Set by `schedule create`: every run of the schedule gets its period from its scheduled time. */
  schedule?: ScheduleContext;
}

export interface ScheduleContext {
  scheduleId: string;
  /** Period 1 starts at `origin`; a period is one `unit`. */
  period: { unit: 'day' | 'week' | 'month'; origin: string };
}

/** Temporal sets this on every run a schedule starts (and on backfills, to the time being filled). */
const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');

/** The period (1-based) a time falls in, counted in whole units from the origin. */
export function periodAt(time: Date, period: ScheduleContext['period']): number {
  const origin = new Date(period.origin);
  if (period.unit === 'month') {
    const months = (time.getUTCFullYear() - origin.getUTCFullYear()) * 12 + (time.getUTCMonth() - origin.getUTCMonth());
    const beforeDay = time.getUTCDate() < origin.getUTCDate() || (time.getUTCDate() === origin.getUTCDate() && time.getTime() % 86_400_000 < origin.getTime() % 86_400_000);
    return months - (beforeDay ? 1 : 0) + 1;
  }
  const unitMs = (period.unit === 'week' ? 7 : 1) * 86_400_000;
  return Math.floor((time.getTime() - origin.getTime()) / unitMs) + 1;
}

/** A scheduled run's identity: its scheduled time (the workflow's start time if Temporal gave none) and period. */
function scheduledIdentity(schedule: ScheduleContext): { runId: string; scheduledTime: string; period: number } {
  const info = workflowInfo();
  const scheduled = info.typedSearchAttributes.get(SCHEDULED_START_TIME) ?? new Date(info.startTime);
  const period = periodAt(scheduled, schedule.period);
  const compact = scheduled.toISOString().replace(/[-:]/g, '');
  return { runId: `${compact}-period-${period}`, scheduledTime: scheduled.toISOString(), period };
}

export const statusQuery = defineQuery<RunManifest>('status');

/** Operator actions on a run waiting after a failed stage (status `failed-waiting`). */
export interface RetryStageRequest {
  /** Dotted paths inside the failed stage's config and their new values, validated like the run config. */
  overrides?: Record<string, unknown>;
}
export interface SkipStageRequest {
  reason: string;
  /** Skip even though later stages read this stage's outputs. */
  force?: boolean;
}
export interface AbortRequest {
  reason: string;
}
/** What an accepted action did. */
export interface OperatorActionResult {
  runId: string;
  stage: StageName;
  action: 'retry' | 'skip' | 'abort';
}
export const retryStageUpdate = defineUpdate<OperatorActionResult, [RetryStageRequest]>('retryStage');
export const skipStageUpdate = defineUpdate<OperatorActionResult, [SkipStageRequest]>('skipStage');
export const abortUpdate = defineUpdate<OperatorActionResult, [AbortRequest]>('abort');

/** Newer runs wait for an operator when a stage fails; runs recorded before this replay as they ran (they failed). */
export const OPERATOR_WAIT_PATCH = 'failed-stage-waits-for-operator';

/** Run bookkeeping (manifests, layout) is small local I/O: short timeouts, generous retries. */
const BOOKKEEPING_OPTIONS = {
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10, initialInterval: '1s', maximumInterval: '10s' },
} as const;
const bookkeeping = {
  beginRun: proxyActivities<BookkeepingActivities>({ ...BOOKKEEPING_OPTIONS, summary: 'validate the config, create the data root layers and the run manifest' }).beginRun,
  saveRunManifest: proxyActivities<BookkeepingActivities>({ ...BOOKKEEPING_OPTIONS, summary: 'save the run manifest' }).saveRunManifest,
  loadRunManifest: proxyActivities<BookkeepingActivities>({ ...BOOKKEEPING_OPTIONS, summary: 'load the manifest of the run resumed from' }).loadRunManifest,
  reviseStage: proxyActivities<BookkeepingActivities>({ ...BOOKKEEPING_OPTIONS, retry: { maximumAttempts: 3 }, summary: "validate an operator's corrected stage config" }).reviseStage,
};

type OperatorAction = { kind: 'retry'; stage: StageConfig; plan: StagePlan } | { kind: 'skip'; reason: string } | { kind: 'abort'; reason: string };

/** The stage a run waits on, and the action an operator chose (set by an update, taken by the run). */
interface Waiting {
  index: number;
  action?: OperatorAction;
}

type StageActivity = (request: StageRequest) => Promise<StageResult>;

export async function pipelineRun(started: PipelineRunInput): Promise<RunManifest> {
  const scheduled = started.schedule ? scheduledIdentity(started.schedule) : undefined;
  const input: PipelineRunInput & { runId: string } = { ...started, runId: started.runId ?? scheduled?.runId ?? workflowInfo().workflowId };
  if (scheduled) {
    // The schedule could not know the run id: make the run findable by it, as client-started runs are.
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.pipelineName, value: input.config.pipelineName },
      { key: SEARCH_ATTRIBUTES.pipelineRunId, value: input.runId },
    ]);
  }
  let manifest = provisionalManifest(input);
  if (scheduled && started.schedule) manifest.scheduled = { scheduleId: started.schedule.scheduleId, scheduledTime: scheduled.scheduledTime, period: scheduled.period };
  setHandler(statusQuery, () => manifest);
  setRunStatus(manifest, 'running');

  let plan: StagePlan[];
  if (patched(STAGE_REGISTRY_PATCH)) {
    ({ manifest, plan } = await beginRun(manifest, input));
    if (scheduled && started.schedule) manifest.scheduled = { scheduleId: started.schedule.scheduleId, scheduledTime: scheduled.scheduledTime, period: scheduled.period };
  } else {
    plan = preRegistryPlan(manifest.pipelineName, input.config.stages);
    await (bookkeeping.beginRun as unknown as (record: RunManifest) => Promise<void>)(manifest);
  }

  const firstStage = input.resume ? await reuseEarlierStages(manifest, input.resume) : 0;
  const operator = handleOperatorActions(() => manifest, plan);
  for (let index = firstStage; index < plan.length; index++) {
    await runStageUntilSettled(manifest, plan, index, operator);
    await bookkeeping.saveRunManifest(manifest);
  }

  manifest.endedAt = new Date().toISOString();
  setRunStatus(manifest, 'succeeded');
  await bookkeeping.saveRunManifest(manifest);
  return manifest;
}

/** The record before the config is validated: what the client sent. */
function provisionalManifest(input: PipelineRunInput & { runId: string }): RunManifest {
  return {
    runId: input.runId,
    workflowId: workflowInfo().workflowId,
    pipelineName: input.config.pipelineName,
    status: 'running',
    overwrite: input.overwrite ?? false,
    ...(input.resume ? { resumedFrom: { runId: input.resume.fromRunId, fromStage: input.resume.fromStage } } : {}),
    startedAt: new Date().toISOString(),
    config: input.config,
    stages: input.config.stages.map((stage) => ({ name: stage.stage, status: 'pending', attempts: 0, outputs: {} })),
  };
}

async function beginRun(provisional: RunManifest, input: PipelineRunInput & { runId: string }): Promise<{ manifest: RunManifest; plan: StagePlan[] }> {
  try {
    return await bookkeeping.beginRun({
      runId: input.runId,
      workflowId: provisional.workflowId,
      startedAt: provisional.startedAt,
      config: input.config,
      overwrite: input.overwrite ?? false,
      ...(input.resume ? { resume: input.resume } : {}),
    });
  } catch (err) {
    // Bad input: nothing was written; the run ends failed, saying why.
    setRunStatus(provisional, 'failed');
    const message = messageOf(err);
    setCurrentDetails(`The run did not start: ${message}`);
    throw ApplicationFailure.nonRetryable(message, 'ConfigError');
  }
}

/** Marks the stages before `fromStage` as done by the earlier run, with its outputs. */
async function reuseEarlierStages(manifest: RunManifest, resume: NonNullable<PipelineRunInput['resume']>): Promise<number> {
  const earlier = await bookkeeping.loadRunManifest({ dataRoot: manifest.config.dataRoot, runId: resume.fromRunId });
  const fromIndex = manifest.stages.findIndex((stage) => stage.name === resume.fromStage);
  for (const record of manifest.stages.slice(0, fromIndex)) {
    const done = earlier.stages.find((stage) => stage.name === record.name);
    if (!done || (done.status !== 'succeeded' && done.status !== 'skipped')) {
      const reason = `cannot resume from "${resume.fromStage}": stage "${record.name}" did not complete in run ${resume.fromRunId}`;
      record.status = 'failed';
      record.error = reason;
      setRunStatus(manifest, 'failed');
      await bookkeeping.saveRunManifest(manifest);
      throw ApplicationFailure.nonRetryable(reason, 'ResumeNotPossible');
    }
    Object.assign(record, {
      status: 'skipped',
      inputsHash: done.inputsHash,
      outputs: done.outputs,
      note: `reused the outputs of run ${resume.fromRunId}`,
    } satisfies Partial<StageRecord>);
  }
  return fromIndex;
}

/** Runs one stage; when it fails, either fails the run (older histories) or waits for an operator and acts. */
async function runStageUntilSettled(manifest: RunManifest, plan: StagePlan[], index: number, operator: { current?: Waiting }): Promise<void> {
  for (;;) {
    const failure = await runOneStage(manifest, plan[index]!, index);
    if (failure === undefined) return;
    const record = manifest.stages[index]!;
    if (isCancellation(failure)) {
      // The run was cancelled: record it (even though this scope is cancelled) and end, no waiting.
      record.error = 'cancelled';
      manifest.endedAt = new Date().toISOString();
      setRunStatus(manifest, 'failed');
      await CancellationScope.nonCancellable(() => bookkeeping.saveRunManifest(manifest));
      throw failure;
    }
    const total = manifest.stages.length;
    if (!patched(OPERATOR_WAIT_PATCH) || manifest.config.operatorWaitLimit === undefined || durationIsZero(manifest.config.operatorWaitLimit)) {
      return failRun(manifest, `stage ${record.name} failed: ${record.error}`, 'StageFailed');
    }
    operator.current = { index };
    setRunStatus(manifest, 'failed-waiting');
    setCurrentDetails(
      `Stage ${index + 1} of ${total}: **${record.name}** failed after ${record.attempts} attempt(s): ${record.error}\n\n` +
        `The run waits (up to ${manifest.config.operatorWaitLimit}) for an operator: \`npm run pipeline -- retry-stage ${manifest.runId} [--set key=value]\`, ` +
        `\`skip-stage ${manifest.runId} --reason …\` or \`abort ${manifest.runId} --reason …\`.`,
    );
    await bookkeeping.saveRunManifest(manifest);
    const acted = await condition(() => operator.current?.action !== undefined, manifest.config.operatorWaitLimit as Duration);
    const action = operator.current.action;
    operator.current = undefined;
    if (!acted || !action) {
      return failRun(manifest, `stage ${record.name} failed and no operator acted within ${manifest.config.operatorWaitLimit}: ${record.error}`, 'OperatorWaitExpired');
    }
    if (action.kind === 'abort') {
      record.note = `run aborted by an operator: ${action.reason}`;
      return failRun(manifest, `aborted by an operator while stage ${record.name} was failed: ${action.reason}`, 'RunAborted');
    }
    setRunStatus(manifest, 'running');
    if (action.kind === 'skip') {
      Object.assign(record, { status: 'skipped', note: `skipped by an operator: ${action.reason}`, outputs: {} } satisfies Partial<StageRecord>);
      delete record.error;
      return;
    }
    manifest.config.stages[index] = action.stage;
    plan[index] = action.plan;
    delete record.error;
  }
}

/** Ends the run as failed (record saved, search attributes set); never returns. */
async function failRun(manifest: RunManifest, message: string, type: string): Promise<never> {
  manifest.endedAt = new Date().toISOString();
  setRunStatus(manifest, 'failed');
  setCurrentDetails(message);
  await bookkeeping.saveRunManifest(manifest);
  throw ApplicationFailure.nonRetryable(message, type);
}

function durationIsZero(duration: string): boolean {
  return /^0+(\.0+)?\s*[a-z]*$/.test(duration.trim());
}

/**
 * The operator's updates. Validators refuse what makes no sense now (nothing is waiting, an empty reason,
 * skipping a stage whose outputs a later stage reads); handlers record the action, which the run takes.
 */
function handleOperatorActions(manifestOf: () => RunManifest, plan: StagePlan[]): { current?: Waiting } {
  const operator: { current?: Waiting } = {};
  const waitingStage = (): { waiting: Waiting; name: StageName } => {
    const waiting = operator.current;
    const manifest = manifestOf();
    if (!waiting || waiting.action) throw new Error(`run ${manifest.runId} is not waiting on a failed stage (status ${manifest.status})`);
    return { waiting, name: manifest.stages[waiting.index]!.name };
  };
  const result = (name: StageName, action: OperatorActionResult['action']): OperatorActionResult => ({ runId: manifestOf().runId, stage: name, action });

  setHandler(
    retryStageUpdate,
    async (request) => {
      const { waiting, name } = waitingStage();
      const manifest = manifestOf();
      const revised =
        request.overrides && Object.keys(request.overrides).length > 0
          ? await bookkeeping.reviseStage({ config: manifest.config, index: waiting.index, overrides: request.overrides })
          : { stage: manifest.config.stages[waiting.index]!, plan: plan[waiting.index]! };
      // Another action may have been taken while the revision was validated.
      if (operator.current !== waiting || waiting.action) throw ApplicationFailure.nonRetryable(`stage ${name} is no longer waiting`, 'NotWaiting');
      waiting.action = { kind: 'retry', ...revised };
      return result(name, 'retry');
    },
    {
      validator: (request) => {
        waitingStage();
        const overrides = request?.overrides;
        if (overrides !== undefined && (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides))) throw new Error('overrides: expected { "path.in.stage": value }');
      },
    },
  );
  setHandler(
    skipStageUpdate,
    (request) => {
      const { waiting, name } = waitingStage();
      waiting.action = { kind: 'skip', reason: request.reason.trim() };
      return Promise.resolve(result(name, 'skip'));
    },
    {
      validator: (request) => {
        const { waiting, name } = waitingStage();
        if (!request?.reason?.trim()) throw new Error('skip-stage needs a reason (it is recorded in the run)');
        if (!request.force) {
          const readers = plan.slice(waiting.index + 1).filter((later) => later.reads?.includes(name)).map((later) => later.stage);
          if (readers.length > 0) throw new Error(`later stages read the outputs of ${name}: ${readers.join(', ')}; skip anyway with force`);
        }
      },
    },
  );
  setHandler(
    abortUpdate,
    (request) => {
      const { waiting, name } = waitingStage();
      waiting.action = { kind: 'abort', reason: request.reason.trim() };
      return Promise.resolve(result(name, 'abort'));
    },
    {
      validator: (request) => {
        waitingStage();
        if (!request?.reason?.trim()) throw new Error('abort needs a reason (it is recorded in the run)');
      },
    },
  );
  return operator;
}

/** Runs one stage once (its activity's own retries included); returns the failure, if it failed. */
async function runOneStage(manifest: RunManifest, plan: StagePlan, index: number): Promise<unknown> {
  const total = manifest.stages.length;
  const stage = manifest.config.stages[index]!;
  const record = manifest.stages[index]!;
  record.status = 'running';
  record.startedAt = new Date().toISOString();
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.pipelineStage, value: stage.stage }]);
  setCurrentDetails(`Stage ${index + 1} of ${total}: **${stage.stage}** is running`);

  const request: StageRequest = {
    runId: manifest.runId,
    pipelineName: manifest.pipelineName,
    dataRoot: manifest.config.dataRoot,
    stage,
    upstream: upstreamOutputs(manifest, index),
    overwrite: manifest.overwrite,
    ...(plan.usesCodingPlan && manifest.config.coding ? { coding: manifest.config.coding } : {}),
    ...(manifest.scheduled ? { period: manifest.scheduled.period } : {}),
  };

  try {
    const result: StageResult =
      plan.runsAs.kind === 'child-workflow'
        ? await executeChild(plan.runsAs.workflowType, {
            args: [{ request, options: plan.options }],
            workflowId: `${manifest.workflowId}-${stage.stage}`,
            staticSummary: plan.summary,
          })
        : await (proxyActivities<Record<string, StageActivity>>({ ...plan.options, summary: plan.summary })[plan.runsAs.activityType] as StageActivity)(request);
    Object.assign(record, {
      status: result.status,
      attempts: result.attempt,
      inputsHash: result.inputsHash,
      outputs: result.outputs,
      ...(result.note ? { note: result.note } : {}),
    } satisfies Partial<StageRecord>);
    record.endedAt = new Date().toISOString();
    return undefined;
  } catch (err) {
    record.status = 'failed';
    record.endedAt = new Date().toISOString();
    record.attempts = attemptsOf(err, plan.options.retry.maximumAttempts);
    record.error = messageOf(err);
    setCurrentDetails(`Stage ${index + 1} of ${total}: **${stage.stage}** failed: ${record.error}`);
    return err;
  }
}

function upstreamOutputs(manifest: RunManifest, index: number): Partial<Record<string, StageOutputs>> {
  return Object.fromEntries(manifest.stages.slice(0, index).map((record) => [record.name, record.outputs]));
}

function setRunStatus(manifest: RunManifest, status: RunStatusName): void {
  manifest.status = status;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.pipelineStatus, value: status }]);
  if (status === 'succeeded') setCurrentDetails(`All ${manifest.stages.length} stages done`);
}

/** The attempt count the activity reported with its failure, or what the retry state implies. */
function attemptsOf(failure: unknown, maximumAttempts: number | undefined): number {
  // A child workflow stage failed because one of its activities did: count that activity's attempts.
  const err = failure instanceof ChildWorkflowFailure ? failure.cause : failure;
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure) {
      const details = cause.details?.[0] as FailureDetails | undefined;
      if (details && typeof details.attempt === 'number') return details.attempt;
    }
    if (err.retryState === RetryState.MAXIMUM_ATTEMPTS_REACHED && maximumAttempts) return maximumAttempts;
  }
  return 1;
}

function messageOf(err: unknown): string {
  // An activity's own error, or for a child workflow the error of the activity that failed it.
  let cause: unknown = err;
  while ((cause instanceof ActivityFailure || cause instanceof ChildWorkflowFailure) && (cause as Error).cause) cause = (cause as Error).cause;
  if (cause !== err && cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
