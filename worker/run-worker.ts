/**
 * The worker process's life: settings, logging, the background sweep of stale temporary files, the
 * connection, and the worker until SIGINT/SIGTERM. `npm run worker` runs it as is; the chaos test runs it
 * with a pinned clock, a pre-built workflow bundle and activities that announce themselves.
 */
import { NativeConnection, type WorkflowBundle } from '@temporalio/worker';

import type { ActivityDeps } from '../activities';
import { createPipelineLogger } from '../activities/runs/run-log';
import { sweepStaleTemporaryFiles } from '../activities/storage/temp-sweep';
import { keyringFor, pipelineDataConverter } from '../config/data-converter';
import { LONGEST_STAGE_ATTEMPT_MS } from '../config/schema-parts';
import { readSettings } from '../config/settings';
import { createPipelineWorker, installRuntimeLogger, type PipelineWorkerOptions } from './create-worker';
import { createActivityDeps } from './dependencies';

export interface WorkerProcessOptions {
  /** Replaces the wall clock the activities read (tests comparing two runs byte for byte). */
  now?: () => Date;
  workflowBundle?: WorkflowBundle;
  /** Replaces activities, given the worker's dependencies. */
  activityOverrides?: (deps: ActivityDeps) => PipelineWorkerOptions['activityOverrides'];
  stickyQueueScheduleToStartTimeout?: string;
}

export async function runWorkerProcess(options: WorkerProcessOptions = {}): Promise<void> {
  const settings = readSettings();
  const logger = createPipelineLogger(settings.logLevel).child({ component: 'worker' });
  installRuntimeLogger(logger);
  // A client library can leave a rejected promise with no handler when one of its calls fails or is
  // abandoned: Firestore's read-only transactions do when their first read fails (their transaction-id
  // promise is never awaited). Node would end the process, and every activity in it; log it instead.
  process.on('unhandledRejection', (err: unknown) => logger.error({ event: 'UnhandledRejection', err }, 'a promise was rejected with no handler'));
  // Temporary files of attempts that crashed long ago (older than any attempt may run) are removed in the
  // background: a large data home takes a while to walk, and the worker need not wait for it.
  void sweepStaleTemporaryFiles(settings.dataHome, LONGEST_STAGE_ATTEMPT_MS).then(
    (swept) => {
      if (swept.removed > 0) logger.info({ event: 'TempFilesSwept', ...swept }, 'removed stale temporary files of crashed attempts');
    },
    (err: unknown) => logger.warn({ event: 'TempFilesSweepFailed', err }, 'could not sweep stale temporary files'),
  );
  // With no keys configured, the data home's local key (generated here the first time).
  const keyring = keyringFor(settings);
  const deps: ActivityDeps = { ...createActivityDeps(settings, logger), ...(options.now ? { now: options.now } : {}) };
  const activityOverrides = options.activityOverrides?.(deps);
  const connection = await NativeConnection.connect(settings.temporalConnection);
  try {
    const worker = await createPipelineWorker({
      connection,
      namespace: settings.temporalNamespace,
      taskQueue: settings.taskQueue,
      deps,
      dataConverter: pipelineDataConverter(keyring),
      shardSlots: settings.shardSlots,
      ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : {}),
      ...(activityOverrides ? { activityOverrides } : {}),
      ...(options.stickyQueueScheduleToStartTimeout ? { stickyQueueScheduleToStartTimeout: options.stickyQueueScheduleToStartTimeout } : {}),
    });
    logger.info(
      {
        taskQueue: settings.taskQueue,
        address: settings.temporalAddress,
        dataHome: settings.dataHome,
        blobStore: settings.blobStore,
        payloadEncryption: { keys: settings.encryption.source === 'environment' ? 'PIPELINE_ENCRYPTION_KEYS' : settings.encryption.file, activeKeyId: keyring.activeKeyId },
      },
      'worker started',
    );
    await worker.run();
    logger.info('worker stopped');
  } finally {
    await connection.close();
  }
}
