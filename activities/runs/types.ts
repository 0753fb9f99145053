/**
 * What a run records about itself. Types only: the workflow imports them with `import type`.
 */
import type { RunStatusName, StageName, StageStatusName } from '../../config/constants';
import type { PipelineConfig, StageConfig } from '../../config/pipeline-config';

/** A reference to something a stage wrote: never the data itself. */
export interface OutputRef {
  uri: string;
  bytes?: number;
  sha256?: string;
  md5?: string;
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
  startedAt: string;
  endedAt?: string;
  config: PipelineConfig;
  stages: StageRecord[];
}

/** What every stage activity receives. */
export interface StageRequest<S extends StageConfig = StageConfig> {
  runId: string;
  pipelineName: string;
  dataRoot: string;
  stage: S;
  /** Outputs of the stages before this one, by stage name. */
  upstream: Partial<Record<StageName, StageOutputs>>;
  overwrite: boolean;
}

export interface StageResult {
  status: 'succeeded' | 'skipped';
  inputsHash: string;
  outputs: StageOutputs;
  /** The activity attempt that produced this result (1 = first try). */
  attempt: number;
  note?: string;
}
