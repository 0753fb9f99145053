/** Wires a Temporal worker: connection, workflow code, activities with their dependencies, logging. */
import type { DataConverter } from '@temporalio/common';
import { DefaultLogger, type LogLevel, NativeConnection, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Logger } from 'pino';

import { type ActivityDeps, createActivities } from '../activities';

export const WORKFLOWS_PATH = require.resolve('../workflows');

/** Sends the Temporal SDK's own logs (worker, workflow sandbox) through pino. Once per process. */
export function installRuntimeLogger(logger: Logger): void {
  const sdkLogger = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger(logger.level.toUpperCase() as LogLevel, (entry) => {
      const level = entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
      sdkLogger[level](entry.meta ?? {}, entry.message);
    }),
    // The default handlers call worker.shutdown() on these signals; shutdownGraceTime bounds the wait.
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });
}

export interface PipelineWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /**
   * `pipelineDataConverterFor(settings)` (config/data-converter.ts): the payload codecs and failure
   * converter, the same as the clients'. A pre-built bundle must be built with its failureConverterPath.
   */
  dataConverter: DataConverter;
  /** A pre-built bundle (tests build one per file); otherwise the workflows folder is bundled. */
  workflowBundle?: WorkflowBundle;
  /** Replaces activities, for tests about orchestration alone. */
  activityOverrides?: Record<string, (input: never) => Promise<unknown>>;
  /**
   * How long a workflow task waits on this worker's own (sticky) queue before any worker may take it; the
   * SDK's default, 10 s, is how long a run stalls after its worker dies. Tests killing workers shorten it.
   */
  stickyQueueScheduleToStartTimeout?: string;
}

export async function createPipelineWorker(options: PipelineWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: { ...createActivities(options.deps), ...options.activityOverrides },
    dataConverter: options.dataConverter,
    // Long enough for a stage to record its last heartbeat and fail cleanly, short enough for ops.
    shutdownGraceTime: '10s',
    // Heartbeats reach the server at least this often, so a cancel or terminate reaches a running stage
    // (its abort signal) within seconds rather than the SDK's default of up to a minute.
    maxHeartbeatThrottleInterval: '3s',
    ...(options.stickyQueueScheduleToStartTimeout ? { stickyQueueScheduleToStartTimeout: options.stickyQueueScheduleToStartTimeout } : {}),
  });
}
