/** Wires a Temporal worker: connection, workflow code, activities with their dependencies, logging. */
import type { DataConverter } from '@temporalio/common';
import { DefaultLogger, type LogLevel, NativeConnection, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { Logger } from 'pino';

import { type ActivityDeps, createActivities } from '../activities';
import { shardTaskQueue } from '../activities/synth/generate-synthetic.stage';

export const WORKFLOWS_PATH = require.resolve('../workflows');

const NO_WORKFLOWS_MESSAGE = 'No workflows registered, not polling for workflow tasks';

/** Sends the Temporal SDK's own logs (worker, workflow sandbox) through pino. Once per process. */
export function installRuntimeLogger(logger: Logger): void {
  const sdkLogger = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    logger: new DefaultLogger(logger.level.toUpperCase() as LogLevel, (entry) => {
      // The shard queue's worker has no workflows by design; the SDK warns of it at every start.
      const expected = entry.message === NO_WORKFLOWS_MESSAGE && String(entry.meta?.taskQueue ?? '').endsWith(shardTaskQueue(''));
      const level = expected ? 'debug' : (entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error');
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
  /** Shards this worker runs at once on its shard queue (PIPELINE_SHARD_SLOTS); 2 unless said. */
  shardSlots?: number;
}

/** The activities a worker runs on its shard queue: the CPU-bound ones a workflow sends there. */
const SHARD_ACTIVITIES = ['generateSyntheticShard'] as const;

/**
 * A pipeline worker: the Temporal worker of the task queue (workflows and every activity) and the one of
 * its shard queue (`shardTaskQueue`), run and stopped together.
 */
export class PipelineWorker {
  constructor(
    private readonly main: Worker,
    private readonly shards: Worker,
  ) {}

  /** Runs both until shutdown (a signal or `shutdown()`); either failing stops the other. */
  async run(): Promise<void> {
    await settleBoth(this.main.run(), this.shards.run(), () => this.shutdown());
  }

  /** Runs both until `body` settles, then shuts them down; its result, or its error. */
  async runUntil<R>(body: Promise<R> | (() => Promise<R>)): Promise<R> {
    const promise = typeof body === 'function' ? body() : body;
    const [result] = await settleBoth(this.main.runUntil(promise), this.shards.runUntil(promise), () => this.shutdown());
    return result;
  }

  shutdown(): void {
    for (const worker of [this.main, this.shards]) if (worker.getState() === 'RUNNING') worker.shutdown();
  }
}

/** Both results once both settled; the first error (after `stop`, so the other ends too) if either failed. */
async function settleBoth<A, B>(first: Promise<A>, second: Promise<B>, stop: () => void): Promise<[A, B]> {
  const failed = (err: unknown) => {
    stop();
    throw err;
  };
  const results = await Promise.allSettled([first.catch(failed), second.catch(failed)]);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
  return [(results[0] as PromiseFulfilledResult<A>).value, (results[1] as PromiseFulfilledResult<B>).value];
}

export async function createPipelineWorker(options: PipelineWorkerOptions): Promise<PipelineWorker> {
  const activities = { ...createActivities(options.deps), ...options.activityOverrides } as Record<string, (input: never) => Promise<unknown>>;
  const common = {
    connection: options.connection,
    namespace: options.namespace,
    dataConverter: options.dataConverter,
    // Long enough for a stage to record its last heartbeat and fail cleanly, short enough for ops.
    shutdownGraceTime: '10s',
    // Heartbeats reach the server at least this often, so a cancel or terminate reaches a running stage
    // (its abort signal) within seconds rather than the SDK's default of up to a minute.
    maxHeartbeatThrottleInterval: '3s',
  } as const;
  const main = await Worker.create({
    ...common,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities,
    ...(options.stickyQueueScheduleToStartTimeout ? { stickyQueueScheduleToStartTimeout: options.stickyQueueScheduleToStartTimeout } : {}),
  });
  const shards = await Worker.create({
    ...common,
    taskQueue: shardTaskQueue(options.taskQueue),
    activities: Object.fromEntries(SHARD_ACTIVITIES.map((name) => [name, activities[name]!])),
    maxConcurrentActivityTaskExecutions: options.shardSlots ?? 2,
  });
  return new PipelineWorker(main, shards);
}
