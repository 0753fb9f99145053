/**
 * The one place for what every activity shares: error translation (bad input is never retried), the
 * attempt number on every failure, heartbeats (progress details, re-sent every few seconds so a long
 * upload is not taken for a dead worker, and handed to a retried attempt as `resumeFrom`), cancellation
 * (an AbortSignal), the run's own log file, and temporary files named after the activity, so a retried
 * attempt removes those its crashed predecessors left. The registry applies it to every activity it registers,
 * so a stage's implementation is just its domain code with its dependencies.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';

import { ProblemsError } from '../../config/problems';
import { AlreadyExistsError, BadInputError } from '../errors';
import { temporaryTagOf, withTemporaryTag } from '../storage/atomic-write';
import type { BlobStore } from '../storage/blob-store';
import { removeTaggedTemporaryFiles, temporaryNamesIn } from '../storage/temp-sweep';
import { resolveDataRoot, runLogPath } from './data-root';
import { openRunLogger } from './run-log';

export interface ActivityDeps {
  /** Relative data roots resolve against this folder. */
  dataHome: string;
  /** Folders besides the data home a run config may name as its data root (the worker's PIPELINE_ALLOWED_DATA_ROOTS). */
  allowedDataRoots?: readonly string[];
  blobStore: BlobStore;
  /**
   * Folders outside data roots where local stand-ins for cloud services write (the local buckets, the
   * local Drive): a retried attempt clears its predecessors' temporary files there as in its data root.
   */
  localStoreRoots?: readonly string[];
  logger: Logger;
  now: () => Date;
}

/** Failure details every activity failure carries, so the workflow can record attempts. */
export interface FailureDetails {
  attempt: number;
}

/** Errors that no retry can fix. */
const NON_RETRYABLE = [BadInputError, AlreadyExistsError, ProblemsError];

export function toFailure(err: unknown, attempt: number): ApplicationFailure {
  const details: FailureDetails[] = [{ attempt }];
  if (err instanceof ApplicationFailure) {
    return ApplicationFailure.create({ message: err.message, type: err.type ?? undefined, nonRetryable: err.nonRetryable ?? undefined, details, cause: err });
  }
  const error = err instanceof Error ? err : new Error(String(err));
  return ApplicationFailure.create({
    message: error.message,
    type: error.name,
    nonRetryable: NON_RETRYABLE.some((kind) => error instanceof kind),
    details,
    cause: error,
  });
}

/**
 * Why an attempt's signal was aborted, when no later attempt of the activity will continue its work: the
 * activity was cancelled, or its run is gone (terminated). Not a worker shutting down (a retry continues
 * from the last heartbeat), a heartbeat timeout (a new attempt may already be writing under the same tag)
 * or a pause (it resumes).
 */
const ENDED_FOR_GOOD = new Set(['CANCELLED', 'NOT_FOUND']);

/** Whether `signal` says the activity ended for good (its reason, a CancelledFailure, carries one of the names above). */
export function cancelledForGood(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof Error && ENDED_FOR_GOOD.has(signal.reason.message);
}

/** How often the last progress is re-sent while the event loop is free. */
export const KEEP_ALIVE_MS = 5_000;

/** The run an activity works for: its log file gets the activity's lines. */
export interface RunScope {
  runId: string;
  pipelineName: string;
  dataRoot: string;
  /** Extra fields on every log line (stage, period, …). */
  bindings?: Record<string, unknown>;
}

/** The run a stage's activity works for, from its request; `bindings` go on every log line with the stage name. */
export function runOfRequest(request: { runId: string; pipelineName: string; dataRoot: string; stage: { stage: string } }, bindings: Record<string, unknown> = {}): RunScope {
  return { runId: request.runId, pipelineName: request.pipelineName, dataRoot: request.dataRoot, bindings: { stage: request.stage.stage, ...bindings } };
}

/** What the wrapper hands the activity's body. */
export interface ActivityScope {
  attempt: number;
  /** The run's logger (worker log and run log file), or the worker's for an activity that works for no run yet. */
  logger: Logger;
  /** Absolute data root of the run ('' for an activity that works for no run yet). */
  dataRoot: string;
  reportProgress(details: Record<string, unknown>): void;
  resumeFrom?: unknown;
  signal: AbortSignal;
}

/**
 * Wraps `body` as a Temporal activity. `runOf` names the run the input belongs to (its log file is
 * opened for the call), or undefined for an activity that works for no run yet (validating a config).
 */
export function asActivity<Input, Output>(
  deps: ActivityDeps,
  runOf: (input: Input) => RunScope | undefined,
  body: (input: Input, scope: ActivityScope) => Promise<Output>,
): (input: Input) => Promise<Output> {
  return async (input: Input): Promise<Output> => {
    const context = Context.current();
    // Every attempt of this activity names its temporary files with one tag.
    const tag = temporaryTagOf(context.info.workflowExecution?.workflowId ?? '', context.info.activityId);
    return withTemporaryTag(tag, () => attemptOnce(input, context, tag));
  };

  async function attemptOnce(input: Input, context: Context, tag: string): Promise<Output> {
    const { attempt } = context.info;
    let lastProgress: Record<string, unknown> = {};
    const reportProgress = (details: Record<string, unknown>): void => {
      lastProgress = details;
      context.heartbeat(details);
    };
    const keepAlive = setInterval(() => context.heartbeat(lastProgress), KEEP_ALIVE_MS);
    let runLog: ReturnType<typeof openRunLogger> | undefined;
    let roots: string[] = [];
    try {
      const run = runOf(input);
      const dataRoot = run ? resolveDataRoot(deps.dataHome, run.dataRoot, deps.allowedDataRoots) : '';
      if (run) runLog = openRunLogger(deps.logger, runLogPath(dataRoot, run.runId), { runId: run.runId, pipeline: run.pipelineName, attempt, ...run.bindings });
      const resumeFrom = context.info.heartbeatDetails as unknown;
      const logger = runLog?.logger ?? deps.logger;
      roots = [...(dataRoot ? [dataRoot] : []), ...(deps.localStoreRoots ?? [])];
      const continued = temporaryNamesIn(resumeFrom);
      if (attempt > 1) {
        // What a crashed attempt was writing is half-written: gone, except the files its last heartbeat
        // names, which this attempt continues (and which are gone by its end unless it failed).
        const removed = await removeTaggedTemporaryFiles(roots, tag, continued);
        if (removed.removed > 0) logger.info({ event: 'TempFilesOfEarlierAttemptsRemoved', ...removed }, 'removed the temporary files earlier attempts left');
      }
      const output = await body(input, {
        attempt,
        logger,
        dataRoot,
        reportProgress,
        ...(resumeFrom !== undefined && resumeFrom !== null ? { resumeFrom } : {}),
        signal: context.cancellationSignal,
      });
      // A heartbeat's file this attempt did not continue after all (it started the unit over).
      if (attempt > 1 && continued.size > 0) await removeTaggedTemporaryFiles(roots, tag);
      return output;
    } catch (err) {
      runLog?.logger.error({ event: 'ActivityFailed', activity: context.info.activityType, err }, 'activity failed');
      if (cancelledForGood(context.cancellationSignal)) {
        // No attempt will continue what this one kept for a retry (a source's partial file, say): it goes now.
        const removed = await removeTaggedTemporaryFiles(roots, tag);
        if (removed.removed > 0) (runLog?.logger ?? deps.logger).info({ event: 'TempFilesOfCancelledActivityRemoved', ...removed }, 'removed the temporary files of the cancelled activity');
      }
      throw toFailure(err, attempt);
    } finally {
      clearInterval(keepAlive);
      runLog?.close();
    }
  }
}
