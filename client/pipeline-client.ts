/**
 * Starting, finding, resuming and listing pipeline runs. Each helper returns a result the caller can act
 * on (already running, not found, cannot resume) instead of raw gRPC errors.
 */
import { Client, Connection, WorkflowExecutionAlreadyStartedError, type WorkflowHandle, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';

import type { StageName } from '../activities/registry';
import type { RunManifest } from '../activities/runs/types';
import { pipelineWorkflowId, SEARCH_ATTRIBUTES } from '../config/constants';
import { pipelineDataConverterFor } from '../config/data-converter';
import type { PipelineConfig } from '../config/pipeline-config';
import type { Settings } from '../config/settings';
import { abortUpdate, type OperatorActionResult, pipelineRun, type PipelineRunInput, retryStageUpdate, skipStageUpdate, statusQuery } from '../workflows';
import { newRunId } from './run-id';

/** A client of the settings' Temporal, with the payload encryption of the settings' keys. */
export async function connectClient(settings: Pick<Settings, 'temporalAddress' | 'temporalNamespace' | 'encryption'> & Partial<Pick<Settings, 'temporalConnection'>>): Promise<Client> {
  const dataConverter = pipelineDataConverterFor(settings);
  const { tls, apiKey, metadata } = settings.temporalConnection ?? {};
  const connection = await Connection.connect({ address: settings.temporalAddress, ...(tls !== undefined ? { tls } : {}), ...(apiKey ? { apiKey } : {}), ...(metadata ? { metadata } : {}) });
  return new Client({ connection, namespace: settings.temporalNamespace, dataConverter });
}

export type StartResult =
  | { kind: 'started'; runId: string; workflowId: string; handle: WorkflowHandle<typeof pipelineRun> }
  | { kind: 'already-running'; runId: string; workflowId: string };

export interface StartOptions {
  config: PipelineConfig;
  taskQueue: string;
  overwrite?: boolean;
  resume?: PipelineRunInput['resume'];
  runId?: string;
}

/**
 * One line for the Web UI's run list, and a few for its details pane. Both stay readable without the
 * encryption key, so they hold names, stages and ids only, never the config's free text (its
 * description may hold anything): config/ui-text.ts lists the shapes the codec leaves plain.
 */
export function describeForUi(input: PipelineRunInput): { staticSummary: string; staticDetails: string } {
  const stages = input.config.stages.map((stage) => stage.stage).join(' → ');
  const resumed = input.resume ? ` (resumed from ${input.resume.fromRunId} at ${input.resume.fromStage})` : '';
  return {
    staticSummary: `Pipeline ${input.config.pipelineName}, run ${input.runId}: ${stages}${resumed}`,
    staticDetails: [
      `**Pipeline:** ${input.config.pipelineName}`,
      `**Run id:** ${input.runId}`,
      `**Data root:** ${input.config.dataRoot}`,
      `**Stages:** ${stages}`,
      input.overwrite ? '**Overwrite:** yes, completed stages are redone' : undefined,
      input.resume ? `**Resumed from:** run ${input.resume.fromRunId}, stage ${input.resume.fromStage}` : undefined,
    ]
      .filter(Boolean)
      .join('\n'),
  };
}

export async function startPipelineRun(client: Client, options: StartOptions): Promise<StartResult> {
  const runId = options.runId ?? newRunId();
  const workflowId = pipelineWorkflowId(options.config.pipelineName, runId);
  const input: PipelineRunInput = {
    runId,
    config: options.config,
    overwrite: options.overwrite ?? false,
    ...(options.resume ? { resume: options.resume } : {}),
  };
  try {
    const handle = await client.workflow.start(pipelineRun, {
      taskQueue: options.taskQueue,
      workflowId,
      args: [input],
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.pipelineName, value: options.config.pipelineName },
        { key: SEARCH_ATTRIBUTES.pipelineRunId, value: runId },
        { key: SEARCH_ATTRIBUTES.pipelineStatus, value: 'running' },
      ],
      ...describeForUi(input),
    });
    return { kind: 'started', runId, workflowId, handle };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { kind: 'already-running', runId, workflowId };
    throw err;
  }
}

/** A run by its run id (`20261121T…-abc1234`) or its workflow id (`pipeline-<name>-<run id>`). */
export async function findRun(client: Client, runOrWorkflowId: string): Promise<WorkflowHandle<typeof pipelineRun> | undefined> {
  if (runOrWorkflowId.startsWith('pipeline-')) {
    const handle = client.workflow.getHandle<typeof pipelineRun>(runOrWorkflowId);
    try {
      await handle.describe();
      return handle;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }
  if (!/^[\w.:-]+$/.test(runOrWorkflowId)) return undefined;
  const query = `${SEARCH_ATTRIBUTES.pipelineRunId.name} = "${runOrWorkflowId}"`;
  for await (const execution of client.workflow.list({ query })) {
    return client.workflow.getHandle<typeof pipelineRun>(execution.workflowId);
  }
  return undefined;
}

export type StatusResult =
  | { kind: 'found'; workflowId: string; workflowStatus: string; manifest?: RunManifest; queryError?: string }
  | { kind: 'not-found' };

/** The run's record from its `status` query (which needs a worker), with Temporal's own status. */
export async function getRunStatus(client: Client, runOrWorkflowId: string): Promise<StatusResult> {
  const handle = await findRun(client, runOrWorkflowId);
  if (!handle) return { kind: 'not-found' };
  const description = await handle.describe();
  try {
    const manifest = await handle.query(statusQuery);
    return { kind: 'found', workflowId: handle.workflowId, workflowStatus: description.status.name, manifest };
  } catch (err) {
    return { kind: 'found', workflowId: handle.workflowId, workflowStatus: description.status.name, queryError: (err as Error).message };
  }
}

/** The input an earlier run was started with, read from the first event of its history. */
async function startInputOf(client: Client, handle: WorkflowHandle): Promise<PipelineRunInput> {
  const history = await handle.fetchHistory();
  const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
  return decodeFromPayloadsAtIndex<PipelineRunInput>(client.options.loadedDataConverter, 0, payloads);
}

export type OperatorAction = { kind: 'retry'; overrides?: Record<string, unknown> } | { kind: 'skip'; reason: string; force?: boolean } | { kind: 'abort'; reason: string };
export type OperatorResult = { kind: 'done'; result: OperatorActionResult } | { kind: 'refused'; reason: string } | { kind: 'not-found' };

/**
 * Sends an operator's action to a run waiting after a failed stage (a Workflow Update). The run's
 * validators refuse what makes no sense now; a refusal, or a correction that fails validation, comes back
 * as `refused` with the reason, and the run keeps waiting.
 */
export async function actOnRun(client: Client, runOrWorkflowId: string, action: OperatorAction): Promise<OperatorResult> {
  const handle = await findRun(client, runOrWorkflowId);
  if (!handle) return { kind: 'not-found' };
  try {
    const result =
      action.kind === 'retry'
        ? await handle.executeUpdate(retryStageUpdate, { args: [{ ...(action.overrides ? { overrides: action.overrides } : {}) }] })
        : action.kind === 'skip'
          ? await handle.executeUpdate(skipStageUpdate, { args: [{ reason: action.reason, ...(action.force ? { force: true } : {}) }] })
          : await handle.executeUpdate(abortUpdate, { args: [{ reason: action.reason }] });
    return { kind: 'done', result };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) return { kind: 'refused', reason: messageOfCause(err) };
    if (err instanceof WorkflowNotFoundError) return { kind: 'refused', reason: 'the run has already ended' };
    throw err;
  }
}

function messageOfCause(err: Error): string {
  let cause: unknown = err;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  return cause instanceof Error ? cause.message : String(cause);
}

export type ResumeResult = StartResult | { kind: 'not-found' } | { kind: 'unknown-stage'; stages: StageName[] };

/** A new run with the earlier run's config that reuses its outputs before `fromStage`. */
export async function resumePipelineRun(
  client: Client,
  options: { fromRunId: string; fromStage: string; overwrite?: boolean; taskQueue: string },
): Promise<ResumeResult> {
  const earlier = await findRun(client, options.fromRunId);
  if (!earlier) return { kind: 'not-found' };
  const earlierInput = await startInputOf(client, earlier);
  const stages = earlierInput.config.stages.map((stage) => stage.stage);
  const fromStage = stages.find((stage) => stage === options.fromStage);
  if (!fromStage) return { kind: 'unknown-stage', stages };
  return startPipelineRun(client, {
    config: earlierInput.config,
    taskQueue: options.taskQueue,
    overwrite: options.overwrite ?? false,
    // A scheduled run's id is derived by the run itself, and kept in its search attributes.
    resume: { fromRunId: earlierInput.runId ?? (await earlier.describe()).typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineRunId) ?? earlier.workflowId, fromStage },
  });
}

export interface RunListing {
  workflowId: string;
  runId: string;
  pipelineName: string;
  status: string;
  stage: string;
  startTime: Date;
}

/** The newest pipeline runs, from Temporal's visibility store. */
export async function listRuns(client: Client, limit = 20): Promise<RunListing[]> {
  const rows: RunListing[] = [];
  for await (const execution of client.workflow.list({ query: `WorkflowType = "pipelineRun"`, pageSize: limit })) {
    const attributes = execution.typedSearchAttributes;
    rows.push({
      workflowId: execution.workflowId,
      runId: attributes.get(SEARCH_ATTRIBUTES.pipelineRunId) ?? '',
      pipelineName: attributes.get(SEARCH_ATTRIBUTES.pipelineName) ?? '',
      status: attributes.get(SEARCH_ATTRIBUTES.pipelineStatus) ?? execution.status.name.toLowerCase(),
      stage: attributes.get(SEARCH_ATTRIBUTES.pipelineStage) ?? '',
      startTime: execution.startTime,
    });
    if (rows.length >= limit) break;
  }
  return rows;
}
