import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { Worker } from '@temporalio/worker';

import type { ActivityDeps } from '../activities';
import type { RunManifest } from '../activities/runs/types';
import type { BlobStore } from '../activities/storage/blob-store';
import { resumePipelineRun } from '../client/pipeline-client';
import { SEARCH_ATTRIBUTES } from '../config/constants';
import { parsePipelineConfig, type PipelineConfig } from '../config/pipeline-config';
import { WORKFLOWS_PATH } from '../worker/create-worker';
import { pipelineRun } from '../workflows';
import { testDataConverter } from './helpers/encryption';
import { createTestBucket, fakeGcsStorage, temporaryFolder } from './helpers/environment';
import { createPipelineTestContext, type FinishedRun, type PipelineTestContext, testBlobStore, testLogger } from './helpers/pipeline-worker';

const FAST_RETRY = { initialInterval: '100ms', backoffCoefficient: 1 } as const;

describe('pipeline runs on the Temporal dev server', () => {
  const storage = fakeGcsStorage();
  let context: PipelineTestContext;
  let dataHome: string;
  let bucket: string;
  let deps: ActivityDeps;

  before(async () => {
    context = await createPipelineTestContext('pipeline');
    dataHome = await temporaryFolder('data-home');
    bucket = await createTestBucket(storage, 'pipeline-logs');
    deps = { dataHome, blobStore: testBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date() };
  });
  after(() => context.close());

  async function seedDataRoot(name: string): Promise<void> {
    await mkdir(join(dataHome, name, 'raw'), { recursive: true });
    await writeFile(join(dataHome, name, 'raw', 'messages.csv'), 'id,text\n1,hello\n2,world\n');
  }

  function config(name: string, destinationBucket = bucket): PipelineConfig {
    return parsePipelineConfig({
      pipelineName: name,
      dataRoot: name,
      operatorWaitLimit: '0s', // a failed stage fails the run at once (waiting for an operator: operator-actions.test.ts)
      stages: [
        { stage: 'backup-data-root', retry: FAST_RETRY },
        { stage: 'upload-logs', destination: `gs://${destinationBucket}/${name}/`, retry: { ...FAST_RETRY, maximumAttempts: 4 } },
      ],
    });
  }

  const runToEnd = (options: { config: PipelineConfig; overwrite?: boolean; resume?: { fromRunId: string; fromStage: 'backup-data-root' | 'upload-logs' } }, runDeps = deps) =>
    context.runToEnd(runDeps, options);

  /** A run whose upload fails at once: its bucket does not exist (yet). */
  async function failedUploadRun(name: string): Promise<{ run: FinishedRun; missingBucket: string }> {
    await seedDataRoot(name);
    const missingBucket = `missing-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
    return { run: await runToEnd({ config: config(name, missingBucket) }), missingBucket };
  }

  it('runs every stage end to end, visible through status, search attributes, summaries and the manifest', async () => {
    await seedDataRoot('e2e');
    const { runId, manifest } = await runToEnd({ config: config('e2e') });
    assert.equal(manifest.status, 'succeeded');
    assert.deepEqual(manifest.stages.map((stage) => [stage.name, stage.status, stage.attempts]), [
      ['backup-data-root', 'succeeded', 1],
      ['upload-logs', 'succeeded', 1],
    ]);

    // Outputs: the archive in backups/, and three objects in the bucket.
    const archive = manifest.stages[0]!.outputs.archive!;
    assert.match(archive.uri, new RegExp(`/e2e/backups/data-${runId.replace('.', '\\.')}\\.tar\\.gz$`));
    const [objects] = await storage.bucket(bucket).getFiles({ prefix: 'e2e/' });
    assert.deepEqual(objects.map((file) => file.name).sort(), [`e2e/${runId}.log`, `e2e/data-${runId}.tar.gz`, `e2e/data-${runId}.tar.gz.sha256`].sort());
    assert.equal(manifest.stages[1]!.outputs.archive!.md5, archive.md5);

    // What a person sees in the Web UI or with `temporal workflow describe`.
    const handle = context.client.workflow.getHandle(manifest.workflowId);
    const description = await handle.describe();
    assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineName), 'e2e');
    assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineRunId), runId);
    assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineStatus), 'succeeded');
    assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineStage), 'upload-logs');
    assert.equal(await description.staticSummary(), `Pipeline e2e, run ${runId}: backup-data-root → upload-logs`);
    assert.match((await description.staticDetails()) ?? '', /\*\*Data root:\*\* e2e/);
    const history = await handle.fetchHistory();
    const activitySummaries = (history.events ?? [])
      .filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name?.match(/^(backup-data-root|upload-logs)$/))
      .map((event) => defaultPayloadConverter.fromPayload<string>(event.userMetadata!.summary!));
    assert.deepEqual(activitySummaries, ['backup-data-root (stage 1 of 2) of e2e', 'upload-logs (stage 2 of 2) of e2e']);

    // The manifest on disk is the same record, and the run log is JSON lines with the stage events.
    const onDisk = JSON.parse(await readFile(join(dataHome, 'e2e', 'manifests', `${runId}.json`), 'utf8')) as RunManifest;
    assert.deepEqual(onDisk, manifest);
    const logLines = (await readFile(join(dataHome, 'e2e', 'logs', `${runId}.log`), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { event?: string });
    const events = logLines.map((line) => line.event).filter(Boolean);
    for (const event of ['PipelineRunStart', 'StageStart', 'BackingUpData', 'StageEnd', 'UploadingLogFiles', 'PipelineRunEnd']) {
      assert.ok(events.includes(event), `${event} in ${events.join(',')}`);
    }
  });

  it('skips every completed stage on a second identical run, reusing the earlier outputs', async () => {
    await seedDataRoot('e2e-again');
    const firstRun = await runToEnd({ config: config('e2e-again') });
    const second = await runToEnd({ config: config('e2e-again') });
    assert.equal(second.manifest.status, 'succeeded');
    for (const [index, stage] of second.manifest.stages.entries()) {
      assert.equal(stage.status, 'skipped', stage.name);
      assert.match(stage.note ?? '', new RegExp(`run ${firstRun.runId.replace('.', '\\.')}`));
      assert.deepEqual(stage.outputs, firstRun.manifest.stages[index]!.outputs);
    }
    assert.deepEqual(await readdir(join(dataHome, 'e2e-again', 'backups')).then((names) => names.length), 2); // one archive + its .sha256
  });

  it('redoes completed stages with overwrite', async () => {
    await seedDataRoot('overwritten');
    const first = await runToEnd({ config: config('overwritten') });
    const third = await runToEnd({ config: config('overwritten'), overwrite: true });
    assert.deepEqual(third.manifest.stages.map((stage) => stage.status), ['succeeded', 'succeeded']);
    assert.ok(existsSync(join(dataHome, 'overwritten', 'backups', `data-${first.runId}.tar.gz`)));
    assert.ok(existsSync(join(dataHome, 'overwritten', 'backups', `data-${third.runId}.tar.gz`)));
  });

  it('retries a stage that fails twice, records its attempts, and the retry creates no duplicate', async () => {
    await seedDataRoot('flaky');
    let failuresLeft = 2;
    const flaky: BlobStore = {
      stat: (uri) => deps.blobStore.stat(uri),
      putFile: async (path, uri, options) => {
        if (failuresLeft > 0) {
          failuresLeft -= 1;
          throw new Error('connection reset by peer');
        }
        return deps.blobStore.putFile(path, uri, options);
      },
    };
    const { manifest } = await runToEnd({ config: config('flaky')}, { ...deps, blobStore: flaky });
    assert.equal(manifest.status, 'succeeded');
    assert.deepEqual(manifest.stages.map((stage) => [stage.name, stage.status, stage.attempts]), [
      ['backup-data-root', 'succeeded', 1],
      ['upload-logs', 'succeeded', 3],
    ]);
    const [objects] = await storage.bucket(bucket).getFiles({ prefix: 'flaky/' });
    assert.equal(objects.length, 3);
  });

  it('stops at once on a non-retryable failure (a bucket that does not exist)', async () => {
    const { run: failedRun, missingBucket } = await failedUploadRun('nobucket');
    assert.ok(failedRun.error instanceof WorkflowFailedError);
    const { manifest } = failedRun;
    assert.equal(manifest.status, 'failed');
    const upload = manifest.stages[1]!;
    assert.equal(upload.status, 'failed');
    assert.equal(upload.attempts, 1);
    assert.match(upload.error ?? '', new RegExp(`bucket "${missingBucket}" does not exist`));
    const description = await context.client.workflow.getHandle(manifest.workflowId).describe();
    assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineStatus), 'failed');
    const onDisk = JSON.parse(await readFile(join(dataHome, 'nobucket', 'manifests', `${failedRun.runId}.json`), 'utf8')) as RunManifest;
    assert.equal(onDisk.stages[1]!.status, 'failed');
  });

  it('resumes from the failed stage: earlier outputs are reused, only that stage and later ones run', async () => {
    const { run: failedRun, missingBucket } = await failedUploadRun('resume-later');
    await storage.createBucket(missingBucket);
    const resumed = await context.withWorker(deps, async () => {
      const result = await resumePipelineRun(context.client, { fromRunId: failedRun.runId, fromStage: 'upload-logs', taskQueue: context.taskQueue });
      assert.equal(result.kind, 'started');
      if (result.kind !== 'started') throw new Error('not started');
      return result.handle.result();
    });
    assert.deepEqual(resumed.resumedFrom, { runId: failedRun.runId, fromStage: 'upload-logs' });
    assert.deepEqual(resumed.stages.map((stage) => stage.status), ['skipped', 'succeeded']);
    assert.equal(resumed.stages[0]!.note, `reused the outputs of run ${failedRun.runId}`);
    assert.deepEqual(resumed.stages[0]!.outputs, failedRun.manifest.stages[0]!.outputs);
    // The backup was not made again: only the failed run's archive exists.
    assert.deepEqual((await readdir(join(dataHome, 'resume-later', 'backups'))).sort(), [`data-${failedRun.runId}.tar.gz`, `data-${failedRun.runId}.tar.gz.sha256`]);
    const [objects] = await storage.bucket(missingBucket).getFiles();
    assert.deepEqual(objects.map((file) => file.name).sort(), [`resume-later/${resumed.runId}.log`, `resume-later/data-${failedRun.runId}.tar.gz`, `resume-later/data-${failedRun.runId}.tar.gz.sha256`].sort());
  });

  it('answers resume requests that cannot work with a result, not an exception', async () => {
    const { run: failedRun } = await failedUploadRun('resume-refused');
    assert.deepEqual(
      await resumePipelineRun(context.client, { fromRunId: failedRun.runId, fromStage: 'coda-add', taskQueue: context.taskQueue }),
      { kind: 'unknown-stage', stages: ['backup-data-root', 'upload-logs'] },
    );
    assert.deepEqual(await resumePipelineRun(context.client, { fromRunId: 'pipeline-none-19700101T000000.000Z-0000000', fromStage: 'upload-logs', taskQueue: context.taskQueue }), { kind: 'not-found' });
  });

  it('refuses a resume past a stage that did not complete in the earlier run', async () => {
    const failedConfig = parsePipelineConfig({ ...config('nobucket', 'never-created-bucket'), stages: [...config('nobucket').stages.slice(1).map((s) => ({ ...s, destination: 'gs://never-created-bucket/x/' }))] });
    const failedUploadOnly = await runToEnd({ config: failedConfig });
    assert.equal(failedUploadOnly.manifest.status, 'failed');
    const twoStages = await runToEnd({
      config: config('nobucket'),
      resume: { fromRunId: failedUploadOnly.runId, fromStage: 'upload-logs' },
    });
    assert.ok(twoStages.error instanceof WorkflowFailedError);
    assert.match(twoStages.manifest.stages[0]!.error ?? '', /stage "backup-data-root" did not complete in run/);
  });

  it('fails a run with an invalid config before any side effect, naming the field', async () => {
    const bad = { pipelineName: 'bad', dataRoot: '../escape', stages: [{ stage: 'backup-data-root' }] } as unknown as PipelineConfig;
    const error = await context.withWorker(deps, async () => {
      const handle = await context.client.workflow.start(pipelineRun, { taskQueue: context.taskQueue, workflowId: `bad-config-${Date.now()}`, args: [{ runId: 'r1', config: bad }] });
      return handle.result().then(() => undefined, (err: unknown) => err);
    });
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(String(error.cause?.message), /dataRoot: must not contain "\.\." segments/);
    assert.equal(existsSync(join(dataHome, '..', 'escape')), false);
  });

  it('replays the history of a real run without nondeterminism', async () => {
    await seedDataRoot('replayed');
    const { manifest } = await runToEnd({ config: config('replayed') });
    assert.equal(manifest.status, 'succeeded');
    const history = await context.client.workflow.getHandle(manifest.workflowId).fetchHistory();
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, dataConverter: testDataConverter() }, history);
  });
});
