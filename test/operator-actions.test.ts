/**
 * Resuming a failed stage in place: a stage that exhausts its retries leaves the run waiting
 * (`failed-waiting`) for an operator's Workflow Update — retry (optionally with corrected options),
 * skip (with a reason), or abort — and a forgotten run fails when the wait limit passes.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';

import { type ActivityDeps, createActivities } from '../activities';
import type { RunManifest, StageRequest } from '../activities/runs/types';
import { actOnRun, startPipelineRun } from '../client/pipeline-client';
import { SEARCH_ATTRIBUTES } from '../config/constants';
import { parsePipelineConfig } from '../config/pipeline-config';
import { statusQuery } from '../workflows';
import { createTestBucket, fakeGcsStorage, temporaryFolder } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext, testBlobStore, testLogger } from './helpers/pipeline-worker';

const SPEC = `
name: tiny
seed: 3
tables:
  - name: people
    rows: 50
    columns:
      - { name: id, type: id, format: { kind: digits, minLength: 4, maxLength: 6 }, primaryKey: true }
      - { name: score, type: numeric, distribution: uniform, min: 0, max: 10, precision: 0 }
`;
const FAST_RETRY = { maximumAttempts: 2, initialInterval: '100ms', maximumInterval: '200ms' };

/** Polls the run's status query until `accept` holds (deadline 60 s). */
async function waitForStatus(handle: WorkflowHandle, accept: (manifest: RunManifest) => boolean): Promise<RunManifest> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const manifest = await handle.query(statusQuery).catch(() => undefined);
    if (manifest && accept(manifest)) return manifest;
    if (Date.now() > deadline) throw new Error(`run did not reach the expected state; last: ${JSON.stringify(manifest?.stages.map((s) => [s.name, s.status]))} ${manifest?.status}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const waiting = (manifest: RunManifest) => manifest.status === 'failed-waiting';

describe('a failed stage waits for an operator', () => {
  let context: PipelineTestContext;
  let dataHome: string;
  let deps: ActivityDeps;
  let bucket: string;
  const storage = fakeGcsStorage();

  before(async () => {
    context = await createPipelineTestContext('operator');
    dataHome = await temporaryFolder('operator-home');
    bucket = await createTestBucket(storage, 'operator');
    deps = { dataHome, blobStore: testBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date() };
  });
  after(() => context.close());

  async function start(name: string, stages: unknown[], extra: Record<string, unknown> = {}) {
    await mkdir(join(dataHome, name, 'raw', 'specs'), { recursive: true });
    await writeFile(join(dataHome, name, 'raw', 'specs', 'tiny.yaml'), SPEC);
    const config = parsePipelineConfig({ pipelineName: name, dataRoot: name, stages, ...extra });
    const started = await startPipelineRun(context.client, { config, taskQueue: context.taskQueue });
    assert.equal(started.kind, 'started');
    if (started.kind !== 'started') throw new Error('not started');
    return started;
  }

  it('waits visibly after a failed stage; a retry with a corrected option, validated first, completes the run', async () => {
    await context.withWorker(deps, async () => {
      const missing = `missing-${Date.now().toString(36)}`;
      const started = await start('op-retry', [{ stage: 'backup-data-root' }, { stage: 'upload-logs', destination: `gs://${missing}/logs/`, retry: FAST_RETRY }]);
      const failed = await waitForStatus(started.handle, waiting);
      assert.equal(failed.stages[0]!.status, 'succeeded');
      assert.equal(failed.stages[1]!.status, 'failed');
      assert.match(failed.stages[1]!.error ?? '', new RegExp(missing));

      const description = await started.handle.describe();
      assert.equal(description.status.name, 'RUNNING', 'the run stays open');
      assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineStatus), 'failed-waiting');
      assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineStage), 'upload-logs');
      const listed: string[] = [];
      for await (const execution of context.client.workflow.list({ query: `${SEARCH_ATTRIBUTES.pipelineStatus.name} = "failed-waiting" AND ${SEARCH_ATTRIBUTES.pipelineRunId.name} = "${started.runId}"` })) {
        listed.push(execution.workflowId);
      }
      assert.deepEqual(listed, [started.workflowId], 'filterable by PipelineStatus');

      // A correction that fails validation is refused with the field's path; the run keeps waiting.
      const bad = await actOnRun(context.client, started.runId, { kind: 'retry', overrides: { destination: 'ftp://nowhere/' } });
      assert.equal(bad.kind, 'refused');
      assert.match(bad.kind === 'refused' ? bad.reason : '', /destination: expected gs:\/\/bucket\/dir\//);
      assert.equal((await started.handle.query(statusQuery)).status, 'failed-waiting');

      const retried = await actOnRun(context.client, started.runId, { kind: 'retry', overrides: { destination: `gs://${bucket}/op-retry/` } });
      assert.deepEqual(retried, { kind: 'done', result: { runId: started.runId, stage: 'upload-logs', action: 'retry' } });
      const manifest = (await started.handle.result()) as RunManifest;
      assert.equal(manifest.status, 'succeeded');
      assert.equal(manifest.stages[1]!.status, 'succeeded');
      assert.equal(manifest.stages[1]!.error, undefined);
      assert.equal((manifest.config.stages[1] as { destination: string }).destination, `gs://${bucket}/op-retry/`, 'the record shows the corrected option');
      const [objects] = await storage.bucket(bucket).getFiles({ prefix: 'op-retry/' });
      assert.ok(objects.some((file) => file.name.endsWith(`${started.runId}.log`)));

      // Nothing is waiting any more: the run has ended, so any action is refused.
      const late = await actOnRun(context.client, started.runId, { kind: 'retry' });
      assert.equal(late.kind, 'refused');
    });
  });

  it('refuses to skip a stage whose outputs a later stage reads unless forced; skip records the reason; abort ends the run', async () => {
    await context.withWorker(deps, async () => {
      // analysis-graphs fails when it runs (its input file is missing); drive-upload reads its outputs.
      const started = await start('op-skip', [
        { stage: 'analysis-graphs', input: 'raw/missing.csv', timestampColumn: 'at', participantColumn: 'who' },
        { stage: 'drive-upload', destination: { backend: 'local' }, automatedAnalysisDir: 'Project/Analysis' },
      ]);
      await waitForStatus(started.handle, waiting);

      const noReason = await actOnRun(context.client, started.runId, { kind: 'skip', reason: '  ' });
      assert.equal(noReason.kind, 'refused');
      const refused = await actOnRun(context.client, started.runId, { kind: 'skip', reason: 'spec under review' });
      assert.equal(refused.kind, 'refused');
      assert.match(refused.kind === 'refused' ? refused.reason : '', /later stages read the outputs of analysis-graphs: drive-upload/);

      const forced = await actOnRun(context.client, started.runId, { kind: 'skip', reason: 'spec under review', force: true });
      assert.equal(forced.kind, 'done');
      // drive-upload then fails (there are no graphs to upload) and the run waits again, on it.
      const second = await waitForStatus(started.handle, (manifest) => waiting(manifest) && manifest.stages[1]!.status === 'failed');
      assert.equal(second.stages[0]!.status, 'skipped');
      assert.equal(second.stages[0]!.note, 'skipped by an operator: spec under review');

      const aborted = await actOnRun(context.client, started.runId, { kind: 'abort', reason: 'fixing the spec first' });
      assert.equal(aborted.kind, 'done');
      const error = await started.handle.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(error instanceof WorkflowFailedError);
      const manifest = await started.handle.query(statusQuery);
      assert.equal(manifest.status, 'failed');
      assert.equal(manifest.stages[1]!.note, 'run aborted by an operator: fixing the spec first');
      const description = await started.handle.describe();
      assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineStatus), 'failed');
    });
  });

  it('fails at the start, before anything is written, when a file the config names is bad (a spec)', async () => {
    await context.withWorker(deps, async () => {
      await mkdir(join(dataHome, 'op-spec', 'raw', 'specs'), { recursive: true });
      await writeFile(join(dataHome, 'op-spec', 'raw', 'specs', 'broken.yaml'), SPEC.replace('min: 0, max: 10', 'min: 10, max: 0'));
      const config = parsePipelineConfig({ pipelineName: 'op-spec', dataRoot: 'op-spec', stages: [{ stage: 'backup-data-root' }, { stage: 'generate-synthetic', spec: 'raw/specs/broken.yaml' }] });
      const started = await startPipelineRun(context.client, { config, taskQueue: context.taskQueue });
      assert.equal(started.kind, 'started');
      if (started.kind !== 'started') return;
      const error = await started.handle.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(error instanceof WorkflowFailedError);
      assert.match(String((error.cause as Error | undefined)?.message), /stages\[1\] \(generate-synthetic\): tables\[0\]\.columns\[1\]\.min: min 10 is greater than max 0/);
      assert.deepEqual(await readdir(join(dataHome, 'op-spec')), ['raw'], 'no layer folder, manifest or log was created');
    });
  });

  it('checks the files a corrected stage names before retrying it', async () => {
    // The size guards are part of the preflight now, so the stage's failure at run time is a plan that
    // finds the disk full while maxBytes is the first value (as if the disk filled after the run began).
    const real = createActivities(deps);
    const planSyntheticBatch = async (request: StageRequest<{ maxBytes: number }>) => {
      if (request.stage.maxBytes === 123_456) throw ApplicationFailure.nonRetryable("the spec's tables would take about 900 bytes, and the disk has 0 bytes free", 'BadInputError');
      return (real.planSyntheticBatch as (input: unknown) => Promise<unknown>)(request);
    };
    await context.withWorker(deps, async () => {
      const started = await start('op-files', [{ stage: 'generate-synthetic', spec: 'raw/specs/tiny.yaml', maxBytes: 123_456 }]);
      await mkdir(join(dataHome, 'op-files', 'raw', 'specs'), { recursive: true });
      await writeFile(join(dataHome, 'op-files', 'raw', 'specs', 'broken.yaml'), SPEC.replace('min: 0, max: 10', 'min: 10, max: 0'));
      const failed = await waitForStatus(started.handle, waiting);
      assert.match(failed.stages[0]!.error ?? '', /the disk has 0 bytes free/);

      const bad = await actOnRun(context.client, started.runId, { kind: 'retry', overrides: { spec: 'raw/specs/broken.yaml', maxBytes: 1_000_000 } });
      assert.equal(bad.kind, 'refused');
      assert.match(bad.kind === 'refused' ? bad.reason : '', /tables\[0\]\.columns\[1\]\.min: min 10 is greater than max 0/);
      assert.equal((await started.handle.query(statusQuery)).status, 'failed-waiting', 'the run keeps waiting');

      const fixed = await actOnRun(context.client, started.runId, { kind: 'retry', overrides: { maxBytes: 1_000_000 } });
      assert.equal(fixed.kind, 'done');
      assert.equal(((await started.handle.result()) as RunManifest).status, 'succeeded');
    }, { planSyntheticBatch });
  });

  it('fails a forgotten run when the wait limit passes', async () => {
    await context.withWorker(deps, async () => {
      const started = await start('op-limit', [{ stage: 'analysis-graphs', input: 'raw/missing.csv', timestampColumn: 'at', participantColumn: 'who' }], { operatorWaitLimit: '2s' });
      const error = await started.handle.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(error instanceof WorkflowFailedError);
      assert.match(String((error.cause as Error | undefined)?.message), /no operator acted within 2s/);
      assert.equal((await started.handle.query(statusQuery)).status, 'failed');
    });
  });
});
