/**
 * Recurring runs through Temporal Schedules on the dev server: create (idempotent), backfill of two past
 * periods (each run named by its period, extending a weekly series by one period), trigger, pause with a
 * note, delete.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { ActivityDeps } from '../activities';
import type { RunManifest } from '../activities/runs/types';
import { findRun } from '../client/pipeline-client';
import { backfillSchedule, createOrUpdateSchedule, deleteSchedule, describeSchedule, pauseSchedule, periodStart, triggerSchedule } from '../client/schedules';
import { SEARCH_ATTRIBUTES } from '../config/constants';
import { parsePipelineConfig } from '../config/pipeline-config';
import { periodAt, statusQuery } from '../workflows';
import { temporaryFolder } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext, testBlobStore, testLogger } from './helpers/pipeline-worker';

const SPEC = `
name: panel
seed: 5
tables:
  - name: people
    rows: 40
    columns:
      - { name: id, type: id, format: { kind: digits, minLength: 5, maxLength: 6 }, primaryKey: true }
      - { name: region, type: categorical, values: { North: 0.5, South: 0.5 } }
`;

/** Completed runs of a pipeline, by run id, polled until `count` have closed (deadline 90 s). */
async function closedRuns(context: PipelineTestContext, pipelineName: string, count: number): Promise<Map<string, RunManifest>> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const runs = new Map<string, RunManifest>();
    for await (const execution of context.client.workflow.list({ query: `${SEARCH_ATTRIBUTES.pipelineName.name} = "${pipelineName}" AND ExecutionStatus = "Completed"` })) {
      const manifest = await context.client.workflow.getHandle(execution.workflowId).query(statusQuery);
      runs.set(manifest.runId, manifest);
    }
    if (runs.size >= count) return runs;
    if (Date.now() > deadline) {
      const seen: string[] = [];
      for await (const execution of context.client.workflow.list({ query: `${SEARCH_ATTRIBUTES.pipelineName.name} = "${pipelineName}"` })) {
        const manifest = await context.client.workflow.getHandle(execution.workflowId).query(statusQuery).catch(() => undefined);
        seen.push(`${execution.workflowId} ${execution.status.name} ${manifest?.status ?? ''} ${manifest?.stages.map((stage) => `${stage.name}:${stage.status}:${stage.error ?? ''}`).join(' ') ?? ''}`);
      }
      throw new Error(`only ${runs.size} of ${count} runs of ${pipelineName} completed; runs: ${seen.join(' | ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

describe('schedules', () => {
  let context: PipelineTestContext;
  let dataHome: string;
  let deps: ActivityDeps;

  before(async () => {
    context = await createPipelineTestContext('schedules');
    dataHome = await temporaryFolder('schedules-home');
    deps = { dataHome, blobStore: testBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date() };
  });
  after(() => context.close());

  it('counts periods from the first one, by day, week and month', () => {
    const week = { unit: 'week' as const, origin: '2026-11-02T00:00:00.000Z' };
    assert.equal(periodAt(new Date('2026-11-02T00:00:00Z'), week), 1);
    assert.equal(periodAt(new Date('2026-11-08T23:59:59Z'), week), 1);
    assert.equal(periodAt(new Date('2026-11-09T00:00:00Z'), week), 2);
    assert.equal(periodAt(new Date('2026-11-01T00:00:00Z'), week), 0);
    assert.equal(periodAt(new Date('2026-11-05T06:00:00Z'), { unit: 'day', origin: '2026-11-02T00:00:00.000Z' }), 4);
    const month = { unit: 'month' as const, origin: '2026-01-15T00:00:00.000Z' };
    assert.equal(periodAt(new Date('2026-02-14T23:00:00Z'), month), 1);
    assert.equal(periodAt(new Date('2026-02-15T00:00:00Z'), month), 2);
    assert.equal(periodAt(new Date('2027-01-15T00:00:00Z'), month), 13);
    assert.equal(periodStart(new Date('2026-11-22T15:00:00Z'), 'week').toISOString(), '2026-11-16T00:00:00.000Z');
    assert.equal(periodStart(new Date('2026-11-22T15:00:00Z'), 'month').toISOString(), '2026-11-01T00:00:00.000Z');
  });

  it('backfills two past weeks in order as scheduled runs would run, each its own run extending the series; trigger, pause, update and delete', async () => {
    const name = `sched-${Date.now().toString(36)}`;
    await mkdir(join(dataHome, name, 'raw', 'specs'), { recursive: true });
    await writeFile(join(dataHome, name, 'raw', 'specs', 'panel.yaml'), SPEC);
    const config = parsePipelineConfig({
      pipelineName: name,
      dataRoot: name,
      stages: [{ stage: 'generate-series', spec: 'raw/specs/panel.yaml', table: 'people', series: 'weekly', periodUnit: 'weeks', periods: 1, newFraction: 0.25 }],
    });
    const request = { scheduleId: name, config, taskQueue: context.taskQueue, cron: '0 6 * * MON', firstPeriod: '2026-11-02T00:00:00Z', periodUnit: 'week' as const, paused: true, note: 'created by the test' };
    assert.equal(await createOrUpdateSchedule(context.client, request), 'created');
    assert.equal(await createOrUpdateSchedule(context.client, { ...request, note: 'created twice' }), 'updated', 'create of an existing id updates it');
    try {
      await context.withWorker(deps, async () => {
        // Paused schedules still backfill: the runs of Monday 2 and Monday 9 November, 06:00 UTC.
        await backfillSchedule(context.client, name, new Date('2026-11-01T00:00:00Z'), new Date('2026-11-15T00:00:00Z'));
        const runs = await closedRuns(context, name, 2);
        const first = runs.get('20261102T060000.000Z-period-1');
        const second = runs.get('20261109T060000.000Z-period-2');
        assert.ok(first && second, [...runs.keys()].join(', '));
        assert.deepEqual(first.scheduled, { scheduleId: name, scheduledTime: '2026-11-02T06:00:00.000Z', period: 1 });
        assert.equal(second.scheduled?.period, 2);
        assert.ok(first.endedAt! <= second.startedAt, 'the backfilled periods ran in order, one after another');
        assert.match(first.stages[0]!.note ?? '', /^1 periods: 1 generated/);
        assert.match(second.stages[0]!.note ?? '', /^2 periods: 1 generated, 1 already there/);
        for (const period of [1, 2]) assert.ok(existsSync(join(dataHome, name, 'synth', 'weekly', `period-${period}`, `dataset_${period}.csv`)));
        for (const manifest of [first, second]) assert.ok(existsSync(join(dataHome, name, 'manifests', `${manifest.runId}.json`)), 'each run keeps its own manifest');

        // Found by run id like any run, with the same search attributes.
        const handle = await findRun(context.client, '20261109T060000.000Z-period-2');
        assert.ok(handle);
        const description = await handle.describe();
        assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineName), name);
        assert.equal(description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineStatus), 'succeeded');
        assert.match(handle.workflowId, new RegExp(`^pipeline-${name}-scheduled-`));

        await triggerSchedule(context.client, name);
        const expectedPeriod = periodAt(new Date(), { unit: 'week', origin: '2026-11-02T00:00:00.000Z' });
        const withTriggered = await closedRuns(context, name, 3);
        const triggered = [...withTriggered.values()].find((manifest) => manifest.runId !== first.runId && manifest.runId !== second.runId);
        assert.equal(triggered?.scheduled?.period, expectedPeriod);
        assert.match(triggered?.runId ?? '', new RegExp(`-period-${expectedPeriod}$`));
      });

      await pauseSchedule(context.client, name, 'holiday week');
      const paused = await describeSchedule(context.client, name);
      assert.equal(paused?.state.paused, true);
      assert.equal(paused?.state.note, 'holiday week');
      assert.equal(paused?.info.recentActions.length, 3);
    } finally {
      await deleteSchedule(context.client, name);
    }
    assert.equal(await describeSchedule(context.client, name), undefined);
  });
});
