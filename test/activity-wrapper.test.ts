import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';

import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';

import { BadInputError } from '../activities/errors';
import { createStageActivities } from '../activities/registry';
import { type ActivityDeps, asActivity } from '../activities/runs/activity-wrapper';
import type { StageRequest, StageResult } from '../activities/runs/types';
import { temporaryPathFor, temporaryTagOf, temporaryTagOfName } from '../activities/storage/atomic-write';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { parsePipelineConfig } from '../config/pipeline-config';
import { temporaryFolder } from './helpers/environment';
import { testLogger } from './helpers/pipeline-worker';

async function depsFor(label: string): Promise<ActivityDeps> {
  const dataHome = await temporaryFolder(label);
  return { dataHome, blobStore: new LocalBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date('2026-11-22T00:00:00Z') };
}

const run = { runId: '20261122T000000.000Z-abcdef0', pipelineName: 'wrapped', dataRoot: 'wrapped' };

describe('the activity wrapper (errors, attempts, heartbeats, cancellation, run log) in a mock activity context', () => {
  it('heartbeats progress, hands a retry the last details as resumeFrom, and logs to the run log', async () => {
    const deps = await depsFor('wrapper-progress');
    const seen: unknown[] = [];
    const activity = asActivity(deps, () => ({ ...run, bindings: { stage: 'demo' } }), async (pages: number, scope) => {
      for (let page = 1; page <= pages; page++) scope.reportProgress({ page });
      scope.logger.info({ event: 'Fetched' }, 'fetched');
      return { resumeFrom: scope.resumeFrom, attempt: scope.attempt };
    });
    const env = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { page: 7 } });
    env.on('heartbeat', (details: unknown) => seen.push(details));
    const result = await env.run(activity, 3);
    assert.deepEqual(result, { resumeFrom: { page: 7 }, attempt: 2 });
    assert.deepEqual(seen, [{ page: 1 }, { page: 2 }, { page: 3 }]);
    const logLines = (await readFile(join(deps.dataHome, 'wrapped', 'logs', `${run.runId}.log`), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      logLines.map((line) => [line.event, line.runId, line.stage, line.attempt]),
      [['Fetched', run.runId, 'demo', 2]],
    );
  });

  it('turns bad input into a non-retryable failure and anything else into a retryable one, both with the attempt', async () => {
    const deps = await depsFor('wrapper-errors');
    const failing = (error: Error) => asActivity(deps, () => run, async () => Promise.reject(error));
    const env = new MockActivityEnvironment({ attempt: 3 });
    const bad = await env.run(failing(new BadInputError('spec: no such file')), undefined).catch((err: unknown) => err);
    assert.ok(bad instanceof ApplicationFailure);
    assert.equal(bad.nonRetryable, true);
    assert.equal(bad.type, 'BadInputError');
    assert.deepEqual(bad.details, [{ attempt: 3 }]);
    const transient = await env.run(failing(new Error('socket hang up')), undefined).catch((err: unknown) => err);
    assert.ok(transient instanceof ApplicationFailure);
    assert.equal(transient.nonRetryable, false);
    assert.deepEqual(transient.details, [{ attempt: 3 }]);
  });

  it('a retried attempt removes the temporary files its crashed predecessors left, in the data root and local stores, and keeps what its heartbeat continues', async () => {
    const deps = { ...(await depsFor('wrapper-temp')), localStoreRoots: [] as string[] };
    deps.localStoreRoots = [join(deps.dataHome, '.buckets'), join(deps.dataHome, '.drive')];
    const info = { workflowExecution: { workflowId: 'pipeline-wrapped-run', runId: 'r1' }, activityId: '5' };
    // Attempt 1 writes temporary files, then its worker dies (here: it throws before committing them).
    const left: string[] = [];
    const writing = asActivity(deps, () => run, async (_: undefined, scope) => {
      for (const path of [join(scope.dataRoot, 'synth', 'table.csv'), join(deps.dataHome, '.buckets', 'logs', 'data.tar.gz'), join(deps.dataHome, '.drive', 'demo', 'messages.csv'), join(scope.dataRoot, 'raw', 'flow.jsonl')]) {
        const temp = temporaryPathFor(path);
        await mkdir(dirname(temp), { recursive: true });
        await writeFile(temp, 'half-written');
        left.push(temp);
      }
      scope.reportProgress({ partial: { temp: basename(left[3]!) } });
      throw new Error('worker killed');
    });
    await assert.rejects(new MockActivityEnvironment({ ...info, attempt: 1 }).run(writing, undefined));
    // Another activity's file in the same data root is not this activity's to remove.
    const other: string = await new MockActivityEnvironment({ ...info, activityId: '6' }).run(
      asActivity(deps, () => run, async (_: undefined, scope): Promise<string> => {
        const temp = temporaryPathFor(join(scope.dataRoot, 'synth', 'other.csv'));
        await writeFile(temp, 'another activity, still writing');
        return temp;
      }),
      undefined,
    );
    for (const path of [...left, other]) assert.equal(existsSync(path), true);

    const seen: boolean[][] = [];
    const retried = asActivity(deps, () => run, async (_: undefined, scope) => {
      seen.push([...left, other].map((path) => existsSync(path)));
      return scope.resumeFrom;
    });
    await new MockActivityEnvironment({ ...info, attempt: 2, heartbeatDetails: { partial: { temp: basename(left[3]!) } } }).run(retried, undefined);
    assert.deepEqual(seen, [[false, false, false, true, true]], 'before the body: the half-written files gone, the partial file the heartbeat names kept, the other activity untouched');
    assert.equal(existsSync(left[3]!), false, 'the partial file, not continued by the attempt, is gone after it');
    assert.equal(existsSync(other), true);
    // A first attempt removes nothing (nothing crashed before it), and names its files with the same tag.
    await new MockActivityEnvironment({ ...info, activityId: '6' }).run(asActivity(deps, () => run, async () => undefined), undefined);
    assert.equal(existsSync(other), true);
    assert.equal(temporaryTagOfName(basename(other)), temporaryTagOf(info.workflowExecution.workflowId, '6'));
  });

  it('aborts the signal the body sees when the activity is cancelled', async () => {
    const deps = await depsFor('wrapper-cancel');
    const env = new MockActivityEnvironment();
    const activity = asActivity(deps, () => run, async (_: undefined, scope) => {
      env.cancel();
      return scope.signal.aborted;
    });
    assert.equal(await env.run(activity, undefined), true);
  });

  it('a cancelled or terminated activity removes all its temporary files; one stopped by a worker shutdown keeps what its heartbeat names', async () => {
    const deps = await depsFor('wrapper-cancel-temp');
    const info = { workflowExecution: { workflowId: 'pipeline-wrapped-run', runId: 'r1' }, activityId: '7' };
    const attempt = (reason: 'CANCELLED' | 'NOT_FOUND' | 'WORKER_SHUTDOWN') => {
      const env = new MockActivityEnvironment(info);
      const left: string[] = [];
      const activity = asActivity(deps, () => run, async (_: undefined, scope) => {
        for (const path of [join(scope.dataRoot, 'raw', 'flow.jsonl'), join(scope.dataRoot, 'raw', 'download.csv')]) {
          const temp = temporaryPathFor(path);
          await mkdir(dirname(temp), { recursive: true });
          await writeFile(temp, 'partial');
          left.push(temp);
        }
        scope.reportProgress({ partial: { temp: basename(left[0]!) } });
        env.cancel(reason);
        scope.signal.throwIfAborted();
      });
      return { left, done: env.run(activity, undefined) };
    };
    for (const reason of ['CANCELLED', 'NOT_FOUND'] as const) {
      const { left, done } = attempt(reason);
      await assert.rejects(done);
      assert.deepEqual(left.map((path) => existsSync(path)), [false, false], `${reason}: no attempt will continue them`);
    }
    const { left, done } = attempt('WORKER_SHUTDOWN');
    await assert.rejects(done);
    assert.deepEqual(left.map((path) => existsSync(path)), [true, true], 'a retry on another worker continues the partial file, and removes the rest when it starts');
  });

  it('runs a registered stage as plain code with its dependencies: backup-data-root, then skipped as done', async () => {
    const deps = await depsFor('wrapper-stage');
    await mkdir(join(deps.dataHome, 'wrapped', 'raw'), { recursive: true });
    await writeFile(join(deps.dataHome, 'wrapped', 'raw', 'messages.csv'), 'id,text\n1,hello\n');
    const config = parsePipelineConfig({ pipelineName: 'wrapped', dataRoot: 'wrapped', stages: [{ stage: 'backup-data-root' }] });
    const request: StageRequest = { ...run, stage: config.stages[0]!, upstream: {}, overwrite: false };
    const activities = createStageActivities(deps);
    const env = new MockActivityEnvironment();
    const first: StageResult = await env.run(activities['backup-data-root'], request);
    assert.equal(first.status, 'succeeded');
    assert.ok(existsSync(join(deps.dataHome, 'wrapped', 'backups', `data-${run.runId}.tar.gz`)));
    const second: StageResult = await env.run(activities['backup-data-root'], { ...request, runId: '20261122T000001.000Z-abcdef0' });
    assert.equal(second.status, 'skipped');
    assert.deepEqual(second.outputs, first.outputs);
  });
});
