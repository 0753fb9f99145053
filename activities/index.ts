/**
 * The activities the worker registers: thin wrappers that give the plain domain functions their
 * dependencies and translate their errors into Temporal failures (bad input is never retried).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { ConfigError, type StageConfig, type StageConfigOf } from '../config/pipeline-config';
import { backupDataRootStage } from './archive/backup-data-root';
import { uploadLogsStage } from './archive/upload-logs';
import { generateSyntheticStage } from './synth/stage';
import { AlreadyExistsError, BadInputError } from './errors';
import { ensureDataRootLayout, resolveDataRoot, runLogPath } from './runs/data-root';
import { readRunManifest, writeRunManifest } from './runs/manifest';
import { openRunLogger } from './runs/run-log';
import { runStage, type StageDefinition } from './runs/stage-runner';
import type { RunManifest, StageRequest, StageResult } from './runs/types';
import type { BlobStore } from './storage/blob-store';

export interface ActivityDeps {
  /** Relative data roots resolve against this folder. */
  dataHome: string;
  blobStore: BlobStore;
  logger: Logger;
  now: () => Date;
}

/** Failure details every activity failure carries, so the workflow can record attempts. */
export interface FailureDetails {
  attempt: number;
}

const NON_RETRYABLE = [BadInputError, AlreadyExistsError, ConfigError];

function toFailure(err: unknown, attempt: number): ApplicationFailure {
  const details: FailureDetails[] = [{ attempt }];
  if (err instanceof ApplicationFailure) {
    return ApplicationFailure.create({
      message: err.message,
      type: err.type ?? undefined,
      nonRetryable: err.nonRetryable ?? undefined,
      details,
      cause: err,
    });
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

function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1; // called outside an activity (plain tests)
  }
}

/** Runs `body` and rethrows any error as an ApplicationFailure that says whether to retry. */
async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw toFailure(err, currentAttempt());
  }
}

export function createActivities(deps: ActivityDeps) {
  const dataRootOf = (dataRoot: string): string => resolveDataRoot(deps.dataHome, dataRoot);

  function stageActivity<S extends StageConfig>(definition: StageDefinition<S>) {
    return (request: StageRequest<S>): Promise<StageResult> =>
      asActivity(async () => {
        const attempt = currentAttempt();
        const dataRoot = dataRootOf(request.dataRoot);
        const runLog = openRunLogger(deps.logger, runLogPath(dataRoot, request.runId), {
          runId: request.runId,
          pipeline: request.pipelineName,
          stage: request.stage.stage,
          attempt,
        });
        try {
          return await runStage(
            definition,
            {
              request,
              dataRoot,
              blobStore: deps.blobStore,
              logger: runLog.logger,
              now: deps.now,
              reportProgress: (details) => {
                try {
                  Context.current().heartbeat(details);
                } catch {
                  // not inside an activity: nothing to heartbeat to
                }
              },
            },
            attempt,
          );
        } catch (err) {
          runLog.logger.error({ event: 'StageFailed', err }, 'stage failed');
          throw err;
        } finally {
          runLog.close();
        }
      });
  }

  /** Logs a run-level event to the worker log and the run's log file. */
  function logRunEvent(dataRoot: string, manifest: RunManifest, event: string, message: string): void {
    const runLog = openRunLogger(deps.logger, runLogPath(dataRoot, manifest.runId), {
      runId: manifest.runId,
      pipeline: manifest.pipelineName,
    });
    runLog.logger.info({ event, status: manifest.status }, message);
    runLog.close();
  }

  return {
    /** Creates the data root's layers and the run's manifest; the first thing every run does. */
    beginRun: (manifest: RunManifest): Promise<void> =>
      asActivity(async () => {
        const dataRoot = dataRootOf(manifest.config.dataRoot);
        await ensureDataRootLayout(dataRoot);
        await writeRunManifest(dataRoot, manifest);
        logRunEvent(dataRoot, manifest, 'PipelineRunStart', 'pipeline run started');
      }),

    /** Replaces the run's manifest with the workflow's current record of it. */
    saveRunManifest: (manifest: RunManifest): Promise<void> =>
      asActivity(async () => {
        const dataRoot = dataRootOf(manifest.config.dataRoot);
        await writeRunManifest(dataRoot, manifest);
        if (manifest.status !== 'running') logRunEvent(dataRoot, manifest, 'PipelineRunEnd', `pipeline run ${manifest.status}`);
      }),

    /** The manifest of an earlier run, for resuming from one of its stages. */
    loadRunManifest: (input: { dataRoot: string; runId: string }): Promise<RunManifest> =>
      asActivity(async () => readRunManifest(dataRootOf(input.dataRoot), input.runId)),

    generateSynthetic: stageActivity<StageConfigOf<'generate-synthetic'>>(generateSyntheticStage),
    backupDataRoot: stageActivity<StageConfigOf<'backup-data-root'>>(backupDataRootStage),
    uploadLogs: stageActivity<StageConfigOf<'upload-logs'>>(uploadLogsStage),
  };
}

export type PipelineActivities = ReturnType<typeof createActivities>;
