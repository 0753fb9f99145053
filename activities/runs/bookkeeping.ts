/**
 * The activities a run does for itself: validate its config and plan its stages (before anything is
 * written), create the data root's layers, and keep its manifest.
 */
import { ConfigError, parsePipelineConfig } from '../../config/pipeline-config';
import type { StageName } from '../registry';
import { planStages } from '../registry';
import { type ActivityDeps, asActivity } from './activity-wrapper';
import { ensureDataRootLayout, resolveDataRoot, runLogPath } from './data-root';
import { readRunManifest, writeRunManifest } from './manifest';
import { openRunLogger } from './run-log';
import type { RunManifest, StagePlan } from './types';

export interface BeginRunInput {
  runId: string;
  workflowId: string;
  startedAt: string;
  /** The config as the client sent it; validated here, so a schema change never alters a recorded history. */
  config: unknown;
  overwrite: boolean;
  resume?: { fromRunId: string; fromStage: string };
}

export interface BegunRun {
  manifest: RunManifest;
  plan: StagePlan[];
}

const runOfManifest = (manifest: RunManifest) => ({ runId: manifest.runId, pipelineName: manifest.pipelineName, dataRoot: manifest.config.dataRoot });

export function createBookkeepingActivities(deps: ActivityDeps) {
  /** Logs a run-level event to the worker log and the run's log file. */
  function logRunEvent(dataRoot: string, manifest: RunManifest, event: string, message: string): void {
    const runLog = openRunLogger(deps.logger, runLogPath(dataRoot, manifest.runId), { runId: manifest.runId, pipeline: manifest.pipelineName });
    runLog.logger.info({ event, status: manifest.status }, message);
    runLog.close();
  }

  return {
    /** Validates the config and plans its stages, then creates the data root's layers and the run's manifest. */
    beginRun: asActivity(deps, () => undefined, async (input: BeginRunInput): Promise<BegunRun> => {
      const config = parsePipelineConfig(input.config);
      const fromStage = input.resume?.fromStage;
      if (fromStage !== undefined && !config.stages.some((stage) => stage.stage === fromStage)) {
        throw new ConfigError([`resume.fromStage: "${fromStage}" is not a stage of this pipeline`]);
      }
      const dataRoot = resolveDataRoot(deps.dataHome, config.dataRoot);
      const manifest: RunManifest = {
        runId: input.runId,
        workflowId: input.workflowId,
        pipelineName: config.pipelineName,
        status: 'running',
        overwrite: input.overwrite,
        ...(input.resume ? { resumedFrom: { runId: input.resume.fromRunId, fromStage: fromStage as StageName } } : {}),
        startedAt: input.startedAt,
        config,
        stages: config.stages.map((stage) => ({ name: stage.stage, status: 'pending', attempts: 0, outputs: {} })),
      };
      await ensureDataRootLayout(dataRoot);
      await writeRunManifest(dataRoot, manifest);
      logRunEvent(dataRoot, manifest, 'PipelineRunStart', 'pipeline run started');
      return { manifest, plan: planStages(config.pipelineName, config.stages) };
    }),

    /** Replaces the run's manifest with the workflow's current record of it. */
    saveRunManifest: asActivity(deps, runOfManifest, async (manifest: RunManifest, { dataRoot }) => {
      await writeRunManifest(dataRoot, manifest);
      if (manifest.status !== 'running') logRunEvent(dataRoot, manifest, 'PipelineRunEnd', `pipeline run ${manifest.status}`);
    }),

    /** The manifest of an earlier run, for resuming from one of its stages. */
    loadRunManifest: asActivity(deps, () => undefined, async (input: { dataRoot: string; runId: string }) =>
      readRunManifest(resolveDataRoot(deps.dataHome, input.dataRoot), input.runId),
    ),
  };
}
