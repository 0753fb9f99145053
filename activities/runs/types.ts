/**
 * What a run records about itself. Types only: the workflow imports them with `import type`.
 */
import type { RunStatusName, StageStatusName } from '../../config/constants';
import type { PipelineConfig, StageConfig } from '../../config/pipeline-config';
import type { CodingPlan } from '../coding/coding-plan';
import type { StageName } from '../registry';

/** A reference to something a stage wrote: never the data itself. */
export interface OutputRef {
  uri: string;
  bytes?: number;
  sha256?: string;
  md5?: string;
  /** Records in the file (JSON Lines), and records refused, where a stage counts them. */
  records?: number;
  rejected?: number;
}

export type StageOutputs = Record<string, OutputRef>;

export interface StageRecord {
  name: StageName;
  status: StageStatusName;
  attempts: number;
  startedAt?: string;
  endedAt?: string;
  inputsHash?: string;
  outputs: StageOutputs;
  /** Why a stage was skipped, or where its outputs came from. */
  note?: string;
  error?: string;
}

export interface RunManifest {
  runId: string;
  workflowId: string;
  pipelineName: string;
  status: RunStatusName;
  overwrite: boolean;
  resumedFrom?: { runId: string; fromStage: StageName };
  /** Runs started by a schedule: which, for which scheduled time, and the period that time falls in. */
  scheduled?: { scheduleId: string; scheduledTime: string; period: number };
  startedAt: string;
  endedAt?: string;
  config: PipelineConfig;
  stages: StageRecord[];
}

/** What every stage activity receives. */
export interface StageRequest<S = StageConfig> {
  runId: string;
  pipelineName: string;
  dataRoot: string;
  stage: S;
  /** Outputs of the stages before this one, by stage name (string keys: the registry's names derive from types that use this one). */
  upstream: Partial<Record<string, StageOutputs>>;
  overwrite: boolean;
  /** The run config's `coding` section, for the stages that use it (and only when the config has one). */
  coding?: CodingPlan;
  /** A scheduled run's period (1, 2, …, from its scheduled time): generate-series extends the series up to it. */
  period?: number;
}

export interface StageResult {
  status: 'succeeded' | 'skipped';
  inputsHash: string;
  outputs: StageOutputs;
  /** The activity attempt that produced this result (1 = first try). */
  attempt: number;
  note?: string;
}

/** How the workflow runs one stage. Decided by `beginRun` from the registry and recorded in the run's history. */
export interface StagePlan {
  stage: StageName;
  /** The activity type (the stage name), or the child workflow type that runs the stage. */
  runsAs: { kind: 'activity'; activityType: string } | { kind: 'child-workflow'; workflowType: string };
  /** Timeouts and retry policy: the stage's defaults with the config's overrides. */
  options: StageActivityOptions;
  /** `qa (stage 3 of 5) of demo`: the activity's summary in the Web UI. */
  summary: string;
  /** Stages whose outputs this one reads (from the stage's definition). */
  reads?: string[];
  /** The request carries the config's `coding` section. Absent on plans recorded before coding stages existed. */
  usesCodingPlan?: true;
}

/** The subset of Temporal's ActivityOptions a stage sets, as plain data. */
export interface StageActivityOptions {
  startToCloseTimeout: string;
  heartbeatTimeout: string;
  retry: { maximumAttempts?: number; initialInterval?: string; backoffCoefficient?: number; maximumInterval?: string };
}

/** What `beginRun` gives the workflow: the validated config (defaults applied) and the plan of each stage. */
export interface RunPlan {
  config: PipelineConfig;
  stages: StagePlan[];
}
