/**
 * Names shared by the client, the worker and the workflow. Kept free of Node built-ins so the
 * workflow sandbox can import it.
 */
import { defineSearchAttributeKey } from '@temporalio/common';

/** Task queue of the pipeline worker; the suffix changes when a worker can no longer serve older runs. */
export const PIPELINE_TASK_QUEUE = 'pipeline-v1';

/** `failed-waiting`: a stage exhausted its retries and the run waits for an operator (retry, skip or abort). */
export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'failed-waiting'] as const;
export type RunStatusName = (typeof RUN_STATUSES)[number];

export const STAGE_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'skipped'] as const;
export type StageStatusName = (typeof STAGE_STATUSES)[number];

/** Custom search attributes; the dev server must be started with each registered as Keyword. */
export const SEARCH_ATTRIBUTES = {
  pipelineName: defineSearchAttributeKey('PipelineName', 'KEYWORD'),
  pipelineRunId: defineSearchAttributeKey('PipelineRunId', 'KEYWORD'),
  pipelineStage: defineSearchAttributeKey('PipelineStage', 'KEYWORD'),
  pipelineStatus: defineSearchAttributeKey('PipelineStatus', 'KEYWORD'),
} as const;

/** `Name=Type` pairs for `temporal server start-dev --search-attribute`. */
export const SEARCH_ATTRIBUTE_REGISTRATIONS = Object.values(SEARCH_ATTRIBUTES).map((key) => `${key.name}=Keyword`);

/** Workflow ids carry the pipeline name and run id so a person can find a run in the Web UI. */
export function pipelineWorkflowId(pipelineName: string, runId: string): string {
  return `pipeline-${pipelineName}-${runId}`;
}

/** Temporal's own limit is 2 MiB; we keep payloads to references, and refuse anything bigger than this. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
