/**
 * The activities the worker registers: thin wrappers that give the plain domain functions their
 * dependencies and translate their errors into Temporal failures (bad input is never retried).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import { pathToFileURL } from 'node:url';
import type { STAGE_ACTIVITIES, StageName } from '../config/constants';
import { ProblemsError, type StageConfig, type StageConfigOf } from '../config/pipeline-config';
import { backupDataRootStage } from './archive/backup-data-root';
import { uploadLogsStage } from './archive/upload-logs';
import { generateSyntheticStage } from './synth/stage';
import { qaStage } from './qa/stage';
import { analysisGraphsStage } from './graphs/stage';
import { loadSeries, runSeriesPeriod, type GenerateSeriesConfig, type PeriodOutcome } from './synth/series-stage';
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

const NON_RETRYABLE = [BadInputError, AlreadyExistsError, ProblemsError];

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

const HEARTBEAT_EVERY_MS = 5_000;

/** Reports progress as an activity heartbeat (a no-op outside an activity, as in plain tests). */
function heartbeat(details: Record<string, unknown>): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // not inside an activity
  }
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
      asActivity(() =>
        withRunLog(request, {}, (logger, dataRoot) =>
          runStage(definition, { request, dataRoot, blobStore: deps.blobStore, logger, now: deps.now, reportProgress: heartbeat }, currentAttempt()),
        ),
      );
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

  /** Runs `body` with the run's logger (worker log and run log file), logging a failure before rethrowing. */
  async function withRunLog<T>(request: StageRequest, bindings: Record<string, unknown>, body: (logger: Logger, dataRoot: string) => Promise<T>): Promise<T> {
    const dataRoot = dataRootOf(request.dataRoot);
    // A heartbeat every few seconds while the event loop is free (uploads, file reads), on top of the
    // stages' own progress reports, so a long upload is not mistaken for a dead worker.
    const alive = setInterval(() => heartbeat({ alive: true }), HEARTBEAT_EVERY_MS);
    const runLog = openRunLogger(deps.logger, runLogPath(dataRoot, request.runId), {
      runId: request.runId,
      pipeline: request.pipelineName,
      stage: request.stage.stage,
      attempt: currentAttempt(),
      ...bindings,
    });
    try {
      return await body(runLog.logger, dataRoot);
    } catch (err) {
      runLog.logger.error({ event: 'StageFailed', err }, 'stage failed');
      throw err;
    } finally {
      clearInterval(alive);
      runLog.close();
    }
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
    qualityAssurance: stageActivity<StageConfigOf<'qa'>>(qaStage),
    analysisGraphs: stageActivity<StageConfigOf<'analysis-graphs'>>(analysisGraphsStage),
    backupDataRoot: stageActivity<StageConfigOf<'backup-data-root'>>(backupDataRootStage),

    /** Checks a series against its spec before any period is written; returns what the periods share. */
    planSeriesRun: (request: StageRequest<GenerateSeriesConfig>): Promise<{ baseInputsHash: string; seriesFolder: string }> =>
      asActivity(() =>
        withRunLog(request, {}, async (logger, dataRoot) => {
          const { baseInputsHash, seriesFolder, plan } = await loadSeries(dataRoot, request.stage);
          logger.info({ event: 'SeriesPlanned', series: request.stage.series, periods: request.stage.periods, rows: plan.rows }, 'series planned');
          return { baseInputsHash, seriesFolder: pathToFileURL(seriesFolder).href };
        }),
      ),

    /** One period of a series: reused if an identical one exists, never overwritten otherwise. */
    generateSeriesPeriod: (input: { request: StageRequest<GenerateSeriesConfig>; period: number }): Promise<PeriodOutcome> =>
      asActivity(() =>
        withRunLog(input.request, { period: input.period }, async (logger, dataRoot) => {
          const outcome = await runSeriesPeriod(dataRoot, input.request.stage, input.period, heartbeat);
          logger.info({ event: 'GeneratingOutputs', series: input.request.stage.series, ...outcome }, outcome.reused ? 'period already generated' : 'period generated');
          return outcome;
        }),
      ),
    uploadLogs: stageActivity<StageConfigOf<'upload-logs'>>(uploadLogsStage),
  };
}

export type PipelineActivities = ReturnType<typeof createActivities>;

// Compile-time check: Pick fails to compile if a stage run as one activity has none here.
type SingleActivityStage = Exclude<(typeof STAGE_ACTIVITIES)[StageName], 'seriesRun'>;
export type StageActivities = Pick<PipelineActivities, SingleActivityStage>;
