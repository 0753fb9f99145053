/**
 * The stage registry: every stage, once, as its definition (activities/<domain>/<stage>.stage.ts) paired
 * with its implementation beside it. The run config's schema, the plan the workflow follows, the worker's
 * activities and the CLI's stage names all derive from this list. Adding a stage is one line here.
 */
import type { z } from 'zod';

import type * as workflows from '../workflows';
import { backupDataRootImplementation } from './archive/backup-data-root';
import { backupDataRootStage } from './archive/backup-data-root.stage';
import { uploadLogsImplementation } from './archive/upload-logs';
import { uploadLogsStage } from './archive/upload-logs.stage';
import { codaAddImplementation } from './coding/coda-add';
import { codaAddStage } from './coding/coda-add.stage';
import { codaGetImplementation } from './coding/coda-get';
import { codaGetStage } from './coding/coda-get.stage';
import type { CodingPlan, CodingStoreConfig } from './coding/coding-plan';
import { openCodaStoreFor } from './coding/open-coda-store';
import { loadPlanCodeSchemes } from './coding/plan-code-schemes';
import { openUuidTableFor } from './deid/open-uuid-table';
import type { UuidTableConfig } from './deid/uuid-table';
import { driveUploadImplementation } from './drive/drive-upload';
import { driveUploadStage } from './drive/drive-upload.stage';
import { BadInputError } from './errors';
import { analysisGraphsImplementation } from './graphs/analysis-graphs';
import { analysisGraphsStage } from './graphs/analysis-graphs.stage';
import { generateOutputsImplementation } from './outputs/generate-outputs';
import { generateOutputsStage } from './outputs/generate-outputs.stage';
import { qaImplementation } from './qa/qa';
import { qaStage } from './qa/qa.stage';
import { qaBatchActivities } from './qa/qa-activities';
import { preflightQa } from './qa/qa-batch';
import { type ActivityDeps, asActivity, runOfRequest } from './runs/activity-wrapper';
import { stageActivityOptions, type StageConfigFor, stageConfigSchema, type StageDefinition, type StageRunsAs } from './runs/stage-definition';
import { runStage, type StageImplementation } from './runs/stage-runner';
import type { StagePlan, StageRequest, StageResult } from './runs/types';
import { fetchSourcesImplementation } from './sources/fetch-sources';
import { fetchSourcesStage } from './sources/fetch-sources.stage';
import { generateSeriesActivities, preflightGenerateSeries } from './synth/generate-series';
import { generateSeriesStage } from './synth/generate-series.stage';
import { generateSyntheticActivities, preflightGenerateSynthetic } from './synth/generate-synthetic';
import { generateSyntheticStage } from './synth/generate-synthetic.stage';

/** Activities of a child-workflow stage, built from the worker's dependencies. */
type ChildStageActivities = Record<string, (input: never) => Promise<unknown>>;

interface ActivityStageEntry<D extends StageDefinition> {
  definition: D;
  implementation: StageImplementation<D>;
}
interface ChildWorkflowStageEntry<D extends StageDefinition, A extends ChildStageActivities> {
  definition: D;
  activities: (deps: ActivityDeps) => A;
  /** As StageImplementation.preflight: checks the files the config names, writing nothing. */
  preflight?: (input: { stage: StageConfigFor<D>; dataRoot: string }) => Promise<void>;
}

function activityStage<D extends StageDefinition & { runsAs: { kind: 'activity' } }>(definition: D, implementation: StageImplementation<D>): ActivityStageEntry<D> {
  return { definition, implementation };
}

/** The child workflow must be exported by workflows/index.ts under the definition's `workflowType`. */
function childWorkflowStage<D extends StageDefinition & { runsAs: { kind: 'child-workflow'; workflowType: keyof typeof workflows } }, A extends ChildStageActivities>(
  definition: D,
  activities: (deps: ActivityDeps) => A,
  preflight?: (input: { stage: StageConfigFor<D>; dataRoot: string }) => Promise<void>,
): ChildWorkflowStageEntry<D, A> {
  return { definition, activities, ...(preflight ? { preflight } : {}) };
}

export const STAGE_REGISTRY = [
  activityStage(fetchSourcesStage, fetchSourcesImplementation),
  activityStage(codaGetStage, codaGetImplementation),
  activityStage(generateOutputsStage, generateOutputsImplementation),
  activityStage(codaAddStage, codaAddImplementation),
  childWorkflowStage(generateSyntheticStage, generateSyntheticActivities, preflightGenerateSynthetic),
  childWorkflowStage(generateSeriesStage, generateSeriesActivities, preflightGenerateSeries),
  // Runs planned before qa became a child workflow still schedule the one `qa` activity.
  childWorkflowStage(qaStage, (deps) => ({ ...qaBatchActivities(deps), qa: oneActivityStage(deps, qaImplementation) }), ({ dataRoot, stage }) => preflightQa(dataRoot, stage)),
  activityStage(analysisGraphsStage, analysisGraphsImplementation),
  activityStage(driveUploadStage, driveUploadImplementation),
  activityStage(backupDataRootStage, backupDataRootImplementation),
  activityStage(uploadLogsStage, uploadLogsImplementation),
] as const;

type Registry = typeof STAGE_REGISTRY;
export type StageName = Registry[number]['definition']['name'];
export const STAGE_NAMES = STAGE_REGISTRY.map((entry) => entry.definition.name) as [StageName, ...StageName[]];

type ConfigSchemaOf<Entry> = Entry extends { definition: StageDefinition<infer Name extends string, infer Options extends z.ZodRawShape, StageRunsAs> }
  ? ReturnType<typeof stageConfigSchema<Name, Options>>
  : never;
type ConfigSchemas<Entries extends readonly unknown[]> = { -readonly [K in keyof Entries]: ConfigSchemaOf<Entries[K]> };
/** One zod schema per stage, in registry order, for the run config's discriminated union. */
export const STAGE_CONFIG_SCHEMAS = STAGE_REGISTRY.map((entry) => stageConfigSchema(entry.definition)) as unknown as ConfigSchemas<Registry>;

function entryOf(name: string): Registry[number] {
  const entry = STAGE_REGISTRY.find((candidate) => candidate.definition.name === name);
  if (!entry) throw new Error(`no stage "${name}" in the registry`);
  return entry;
}


/**
 * Every problem with the files a run config names (specs, code schemes), found before the run writes
 * anything: each stage's preflight, and the coding section's schemes once. Messages name the field.
 */
export async function preflightProblems(config: { stages: ReadonlyArray<{ stage: string }>; coding?: CodingPlan }, dataRoot: string): Promise<string[]> {
  const problems: string[] = [];
  const collect = async (where: string, check: () => Promise<unknown>) => {
    try {
      await check();
    } catch (err) {
      if (!(err instanceof BadInputError)) throw err;
      for (const line of err.message.split('\n').map((text) => text.trim()).filter(Boolean)) problems.push(`${where}${line}`);
    }
  };
  for (const [index, stage] of config.stages.entries()) {
    const entry = entryOf(stage.stage) as { preflight?: (input: { stage: unknown; dataRoot: string }) => Promise<void>; implementation?: { preflight?: (input: { stage: unknown; dataRoot: string }) => Promise<void> } };
    const preflight = entry.implementation?.preflight ?? entry.preflight;
    if (preflight) await collect(`stages[${index}] (${stage.stage}): `, () => preflight({ stage, dataRoot }));
  }
  if (config.coding && config.stages.some((stage) => STAGES_USING_CODING_PLAN.has(stage.stage))) {
    const coding = config.coding;
    await collect('', () => loadPlanCodeSchemes(dataRoot, coding));
  }
  return problems;
}

/** Stages whose request carries the run config's `coding` section. */
export const STAGES_USING_CODING_PLAN: ReadonlySet<string> = new Set(STAGE_REGISTRY.filter((entry) => (entry.definition as StageDefinition).usesCodingPlan).map((entry) => entry.definition.name));

/** How the workflow runs each stage of a validated config: decided here, recorded in the run's history. */
export function planStages(pipelineName: string, stages: ReadonlyArray<{ stage: StageName; retry?: Record<string, unknown>; startToCloseTimeout?: string; heartbeatTimeout?: string }>): StagePlan[] {
  return stages.map((stage, index) => {
    const { definition } = entryOf(stage.stage);
    return {
      stage: stage.stage,
      runsAs: definition.runsAs.kind === 'activity' ? { kind: 'activity', activityType: definition.name } : definition.runsAs,
      options: stageActivityOptions(definition.policy, stage),
      summary: `${stage.stage} (stage ${index + 1} of ${stages.length}) of ${pipelineName}`,
      ...(definition.usesCodingPlan ? { usesCodingPlan: true as const } : {}),
      ...(definition.reads?.length ? { reads: [...definition.reads] } : {}),
    };
  });
}

type UnionToIntersection<U> = (U extends unknown ? (value: U) => void : never) extends (value: infer I) => void ? I : never;
type ActivityStageName = Extract<Registry[number], { implementation: unknown }>['definition']['name'];
type ChildStagesActivities = UnionToIntersection<Extract<Registry[number], { activities: unknown }> extends { activities: (deps: ActivityDeps) => infer A } ? A : never>;
export type StageActivities = Record<ActivityStageName, (request: StageRequest) => Promise<StageResult>> & ChildStagesActivities;

/** A one-activity stage's activity: its implementation run by the stage runner (skip-if-done) in the activity wrapper. */
function oneActivityStage<D extends StageDefinition>(deps: ActivityDeps, implementation: StageImplementation<D>): (request: StageRequest<{ stage: string }>) => Promise<StageResult> {
  const openUuidTable = (config: UuidTableConfig) => openUuidTableFor(config, deps.dataHome, deps.blobStore);
  const openCodaStore = (config: CodingStoreConfig) => openCodaStoreFor(config, deps.dataHome, deps.blobStore);
  return asActivity(deps, (request: StageRequest<{ stage: string }>) => runOfRequest(request), (request, scope) =>
    runStage(
      implementation as unknown as StageImplementation,
      { request, dataRoot: scope.dataRoot, dataHome: deps.dataHome, blobStore: deps.blobStore, logger: scope.logger, now: deps.now, reportProgress: scope.reportProgress, resumeFrom: scope.resumeFrom, signal: scope.signal, openUuidTable, openCodaStore },
      scope.attempt,
    ),
  );
}

/** Every stage's activities: one per one-activity stage (named after the stage), and each child-workflow stage's own. */
export function createStageActivities(deps: ActivityDeps): StageActivities {
  const activities: Record<string, unknown> = {};
  for (const entry of STAGE_REGISTRY) {
    if ('implementation' in entry) {
      activities[entry.definition.name] = oneActivityStage(deps, entry.implementation as unknown as StageImplementation);
    } else {
      Object.assign(activities, entry.activities(deps));
    }
  }
  return activities as StageActivities;
}
