/** A real worker on the test run's dev server, one task queue per test file, with injectable dependencies. */
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, type WorkflowBundle } from '@temporalio/worker';
import pino from 'pino';

import type { ActivityDeps } from '../../activities';
import type { RunManifest } from '../../activities/runs/types';
import { type BlobStore, BlobStoreRouter } from '../../activities/storage/blob-store';
import { GcsBlobStore } from '../../activities/storage/gcs-blob-store';
import { LocalBlobStore } from '../../activities/storage/local-blob-store';
import { type StartOptions, startPipelineRun } from '../../client/pipeline-client';
import { FAILURE_CONVERTER_PATH } from '../../config/data-converter';
import { createPipelineWorker, type PipelineWorkerOptions, WORKFLOWS_PATH } from '../../worker/create-worker';
import { statusQuery } from '../../workflows';
import { testDataConverter } from './encryption';
import { fakeGcsStorage, testServers } from './environment';

let runtimeInstalled = false;

export interface PipelineTestContext {
  client: Client;
  taskQueue: string;
  /** Runs `body` while a worker with these dependencies (and activity overrides) serves the task queue. */
  withWorker<T>(deps: ActivityDeps, body: () => Promise<T>, activityOverrides?: PipelineWorkerOptions['activityOverrides']): Promise<T>;
  /** Starts a run with a worker serving it, waits for its end, and returns its record (and its error if it failed). */
  runToEnd(deps: ActivityDeps, options: Omit<StartOptions, 'taskQueue'>, activityOverrides?: PipelineWorkerOptions['activityOverrides']): Promise<FinishedRun>;
  close(): Promise<void>;
}

export interface FinishedRun {
  runId: string;
  workflowId: string;
  manifest: RunManifest;
  error?: unknown;
}

export function testLogger(): pino.Logger {
  return pino({ level: process.env.LOG_LEVEL ?? 'warn' });
}

/** The blob store a worker would have with GCS configured: file:// locally, gs:// on fake-gcs-server. */
export function testBlobStore(bucketsRoot: string): BlobStore {
  return new BlobStoreRouter({ file: new LocalBlobStore(bucketsRoot), gs: new GcsBlobStore(fakeGcsStorage()) });
}

export async function createPipelineTestContext(label: string): Promise<PipelineTestContext> {
  if (!runtimeInstalled) {
    // Expected failures (the tests cause them) are logged by the SDK at WARN; keep the output to errors.
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    runtimeInstalled = true;
  }
  const workflowBundle: WorkflowBundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, logger: new DefaultLogger('WARN') });
  const dataConverter = testDataConverter();
  const nativeConnection = await NativeConnection.connect({ address: testServers.temporalAddress });
  const connection = await Connection.connect({ address: testServers.temporalAddress });
  const client = new Client({ connection, dataConverter });
  const taskQueue = `test-${label}-${Date.now().toString(36)}`;
  const context: PipelineTestContext = {
    client,
    taskQueue,
    async withWorker(deps, body, activityOverrides) {
      const worker = await createPipelineWorker({ connection: nativeConnection, namespace: 'default', taskQueue, deps, workflowBundle, dataConverter, ...(activityOverrides ? { activityOverrides } : {}) });
      return worker.runUntil(body);
    },
    async runToEnd(deps, options, activityOverrides) {
      return context.withWorker(
        deps,
        async () => {
          const started = await startPipelineRun(client, { ...options, taskQueue });
          if (started.kind !== 'started') throw new Error(`run ${started.runId} was not started: ${started.kind}`);
          const error = await started.handle.result().then(
            () => undefined,
            (err: unknown) => err,
          );
          const manifest = await started.handle.query(statusQuery);
          return { runId: started.runId, workflowId: started.workflowId, manifest, ...(error ? { error } : {}) };
        },
        activityOverrides,
      );
    },
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
  return context;
}
