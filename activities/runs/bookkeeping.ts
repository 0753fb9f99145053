/**
 * The activities a run does for itself: validate its config and plan its stages (before anything is
 * written), create the data root's layers, and keep its manifest.
 */
import { ConfigError, parsePipelineConfig, type PipelineConfig, type StageConfig } from '../../config/pipeline-config';
import type { StageName } from '../registry';
import { planStages, preflightProblems } from '../registry';
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

export interface ReviseStageInput {
  config: PipelineConfig;
  /** Index of the stage in `config.stages`. */
  index: number;
  /** Dotted paths inside the stage's config (`destination`, `sources.0.tokenFileUrl`) and their new values. */
  overrides: Record<string, unknown>;
}

export interface RevisedStage {
  stage: StageConfig;
  plan: StagePlan;
}

/** Sets `value` at a dotted path (numeric segments index arrays), creating objects on the way. */
export function setAtPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const segments = path.split('.');
  if (segments.some((segment) => segment === '' || segment === '__proto__' || segment === 'constructor' || segment === 'prototype')) {
    throw new ConfigError([`${path}: not a usable path (empty or reserved segment)`]);
  }
  let node: Record<string, unknown> | unknown[] = target;
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    const key: string | number = Array.isArray(node) ? Number(segment) : segment;
    if (Array.isArray(node) && !Number.isInteger(key)) throw new ConfigError([`${path}: "${segment}" indexes a list; expected a number`]);
    const container = node as Record<string | number, unknown>;
    if (last) {
      container[key] = value;
      return;
    }
    const next = container[key];
    if (next === undefined || next === null) container[key] = /^\d+$/.test(segments[index + 1]!) ? [] : {};
    else if (typeof next !== 'object') throw new ConfigError([`${path}: "${segments.slice(0, index + 1).join('.')}" is a value, not an object`]);
    node = container[key] as Record<string, unknown> | unknown[];
  });
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
      const dataRoot = resolveDataRoot(deps.dataHome, config.dataRoot, deps.allowedDataRoots);
      // Every file the config names is checked before the run creates anything in the data root.
      const problems = await preflightProblems(config, dataRoot);
      if (problems.length > 0) throw new ConfigError(problems);
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

    /**
     * An operator's corrected config for one failed stage (retry-stage --set): validated with the whole
     * run config, so a field path error names the field and cross-field checks still hold.
     */
    reviseStage: asActivity(deps, () => undefined, async (input: ReviseStageInput): Promise<RevisedStage> => {
      const current = input.config.stages[input.index];
      if (!current) throw new ConfigError([`stages.${input.index}: no such stage`]);
      const revised = structuredClone(current) as unknown as Record<string, unknown>;
      for (const [path, value] of Object.entries(input.overrides)) {
        if (path === 'stage' || path.startsWith('stage.')) throw new ConfigError([`${path}: a stage's kind cannot be changed`]);
        setAtPath(revised, path, value);
      }
      const stages = input.config.stages.map((stage, index) => (index === input.index ? revised : stage));
      let config: PipelineConfig;
      try {
        config = parsePipelineConfig({ ...input.config, stages });
      } catch (err) {
        // Name the paths as the operator wrote them: inside the stage, not inside the whole run config.
        if (err instanceof ConfigError) throw new ConfigError(err.problems.map((problem) => (problem.startsWith(`stages[${input.index}].`) ? problem.slice(`stages[${input.index}].`.length) : problem)));
        throw err;
      }
      const stage = config.stages[input.index]!;
      // The files the corrected stage names are checked as beginRun checks a new run's, before the retry.
      const problems = await preflightProblems({ stages: [stage] }, resolveDataRoot(deps.dataHome, config.dataRoot, deps.allowedDataRoots));
      if (problems.length > 0) throw new ConfigError(problems.map((problem) => problem.replace(/^stages\[0\] \([a-z-]+\): /, '')));
      return { stage, plan: planStages(config.pipelineName, config.stages)[input.index]! };
    }),

    /** Replaces the run's manifest with the workflow's current record of it. */
    saveRunManifest: asActivity(deps, runOfManifest, async (manifest: RunManifest, { dataRoot }) => {
      await writeRunManifest(dataRoot, manifest);
      if (manifest.status === 'succeeded' || manifest.status === 'failed') logRunEvent(dataRoot, manifest, 'PipelineRunEnd', `pipeline run ${manifest.status}`);
      if (manifest.status === 'failed-waiting') logRunEvent(dataRoot, manifest, 'PipelineRunWaiting', 'a stage failed; the run waits for an operator');
    }),

    /** The manifest of an earlier run, for resuming from one of its stages. */
    loadRunManifest: asActivity(deps, () => undefined, async (input: { dataRoot: string; runId: string }) =>
      readRunManifest(resolveDataRoot(deps.dataHome, input.dataRoot, deps.allowedDataRoots), input.runId),
    ),
  };
}
