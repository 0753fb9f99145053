import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { WorkflowFailedError } from '@temporalio/client';

import { type ActivityDeps, createActivities } from '../activities';
import type { RunManifest } from '../activities/runs/types';
import { startPipelineRun } from '../client/pipeline-client';
import { parsePipelineConfig } from '../config/pipeline-config';
import { createTestBucket, fakeGcsStorage, temporaryFolder } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext, testBlobStore, testLogger } from './helpers/pipeline-worker';
import { schoolsSpecYaml } from './helpers/synth';

const SPEC = schoolsSpecYaml(20_000);

describe('generate-synthetic stage in a pipeline run', () => {
  let context: PipelineTestContext;
  let dataHome: string;
  let deps: ActivityDeps;
  let bucket: string;
  const storage = fakeGcsStorage();

  before(async () => {
    context = await createPipelineTestContext('synth-stage');
    dataHome = await temporaryFolder('synth-home');
    bucket = await createTestBucket(storage, 'synth-outputs');
    deps = { dataHome, blobStore: testBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date('2026-11-21T12:00:00Z') };
    await mkdir(join(dataHome, 'synth-demo', 'raw', 'specs'), { recursive: true });
    await writeFile(join(dataHome, 'synth-demo', 'raw', 'specs', 'schools.yaml'), SPEC);
    await writeFile(join(dataHome, 'synth-demo', 'raw', 'specs', 'broken.yaml'), SPEC.replace('min: 40, max: 160', 'min: 160, max: 40'));
  });
  after(() => context.close());

  async function runPipeline(spec: string, extra: Record<string, unknown> = {}): Promise<{ manifest: RunManifest; error?: unknown }> {
    const config = parsePipelineConfig({
      pipelineName: 'synth-demo',
      dataRoot: 'synth-demo',
      operatorWaitLimit: '0s', // a failed stage fails the run at once (waiting for an operator: operator-actions.test.ts)
      stages: [{ stage: 'generate-synthetic', spec, datestampLine: true, destination: `gs://${bucket}/synth/`, ...extra }, { stage: 'backup-data-root' }],
    });
    return context.runToEnd(deps, { config });
  }

  it('writes every table and the effective spec under synth/<spec>/<run id>/, uploads them, and skips a second identical run', async () => {
    const { manifest } = await runPipeline('raw/specs/schools.yaml');
    assert.equal(manifest.status, 'succeeded');
    const outputs = manifest.stages[0]!.outputs;
    const pupils = fileURLToPath(outputs.pupils!.uri);
    assert.equal(pupils, join(dataHome, 'synth-demo', 'synth', 'schools', manifest.runId, 'pupils.csv'));
    const lines = (await readFile(pupils, 'utf8')).split('\n');
    assert.equal(lines[0], '# {"Date generated":"2026-11-21T12:00:00.000Z"}');
    assert.equal(lines[1], 'pupil_id,school_id,score');
    assert.equal(lines.length, 20000 + 3); // datestamp, header, rows, final newline
    const spec = JSON.parse(await readFile(fileURLToPath(outputs.spec!.uri), 'utf8')) as { tables: unknown[] };
    assert.equal(spec.tables.length, 2);
    const [objects] = await storage.bucket(bucket).getFiles({ prefix: `synth/schools/${manifest.runId}/` });
    assert.deepEqual(objects.map((file) => file.name.split('/').pop()).sort(), ['pupils.csv', 'schools.csv', 'spec.json']);

    const again = await runPipeline('raw/specs/schools.yaml', { datestampLine: false });
    assert.equal(again.manifest.stages[0]!.status, 'succeeded', 'other options are other inputs');
    const third = await runPipeline('raw/specs/schools.yaml', { datestampLine: false });
    assert.equal(third.manifest.stages[0]!.status, 'skipped');
    assert.deepEqual(third.manifest.stages[0]!.outputs, again.manifest.stages[0]!.outputs);
  });

  it('fails the stage, not the workflow task, when a join started with its shards fails while they still run', async () => {
    const config = parsePipelineConfig({
      pipelineName: 'synth-demo',
      dataRoot: 'synth-demo',
      operatorWaitLimit: '0s',
      stages: [{ stage: 'generate-synthetic', spec: 'raw/specs/schools.yaml', shardRows: 5000, retry: { maximumAttempts: 1 } }],
    });
    const realActivities = createActivities(deps);
    const overrides = {
      joinSyntheticShardsAsTheyFinish: () => Promise.reject(new Error('the join lost its disk')),
      // The shards are still running when the join fails.
      generateSyntheticShard: async (input: Parameters<typeof realActivities.generateSyntheticShard>[0]) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return realActivities.generateSyntheticShard(input);
      },
    };
    const { manifest, workflowId } = await context.runToEnd(deps, { config }, overrides);
    assert.equal(manifest.status, 'failed');
    assert.match(manifest.stages[0]!.error ?? '', /the join lost its disk/);
    const history = await context.client.workflow.getHandle(`${workflowId}-generate-synthetic`).fetchHistory();
    assert.ok(!history.events!.some((event) => event.workflowTaskFailedEventAttributes), 'no workflow task failed');
  });

  it('generates a series period by period in a child workflow, retries a failed period alone, and reuses finished ones', async () => {
    const config = parsePipelineConfig({
      pipelineName: 'synth-demo',
      dataRoot: 'synth-demo',
      operatorWaitLimit: '0s', // a failed stage fails the run at once (waiting for an operator: operator-actions.test.ts)
      stages: [
        {
          stage: 'generate-series',
          spec: 'raw/specs/schools.yaml',
          table: 'pupils',
          series: 'weekly-pupils',
          periodUnit: 'weeks',
          periods: 3,
          newFraction: 0.25,
          retry: { initialInterval: '100ms' },
        },
      ],
    });
    const calls: number[] = [];
    let failed = false;
    const realActivities = createActivities(deps);
    const overrides = {
      generateSeriesPeriod: async (input: Parameters<typeof realActivities.generateSeriesPeriod>[0]) => {
        calls.push(input.period);
        if (input.period === 2 && !failed) {
          failed = true;
          throw new Error('worker lost its disk for a moment');
        }
        return realActivities.generateSeriesPeriod(input);
      },
    };
    const run = async () => (await context.runToEnd(deps, { config }, overrides)).manifest;
    const first = await run();
    assert.equal(first.status, 'succeeded');
    assert.deepEqual(calls, [1, 2, 2, 3], 'only the failed period ran again');
    assert.equal(first.stages[0]!.note, '3 periods: 3 generated, 0 already there');
    for (const period of [1, 2, 3]) {
      const lines = (await readFile(join(dataHome, 'synth-demo', 'synth', 'weekly-pupils', `period-${period}`, `dataset_${period}.csv`), 'utf8')).trim().split('\n');
      assert.equal(lines.length, 20001);
    }
    const second = await run();
    assert.equal(second.stages[0]!.status, 'skipped');
    assert.equal(second.stages[0]!.note, '3 periods: 0 generated, 3 already there');
  });

  it('continues a long series as new every 100 periods', async () => {
    await writeFile(
      join(dataHome, 'synth-demo', 'raw', 'specs', 'tiny.yaml'),
      'name: tiny\nseed: 3\ntables:\n  - name: people\n    rows: 4\n    columns:\n      - { name: id, type: id, format: { kind: digits, minLength: 6, maxLength: 8 }, primaryKey: true }\n      - { name: group, type: categorical, values: { a: 0.5, b: 0.5 } }\n',
    );
    const config = parsePipelineConfig({
      pipelineName: 'synth-demo',
      dataRoot: 'synth-demo',
      operatorWaitLimit: '0s', // a failed stage fails the run at once (waiting for an operator: operator-actions.test.ts)
      stages: [{ stage: 'generate-series', spec: 'raw/specs/tiny.yaml', series: 'long', periodUnit: 'days', periods: 101, newFraction: 0.5, staticColumns: ['group'] }],
    });
    const { manifest } = await context.runToEnd(deps, { config });
    assert.equal(manifest.status, 'succeeded');
    assert.equal(manifest.stages[0]!.note, '101 periods: 101 generated, 0 already there');
    const child = context.client.workflow.getHandle(`${manifest.workflowId}-generate-series`);
    const history = await child.fetchHistory();
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
    assert.ok(started.continuedExecutionRunId, 'the last execution continued an earlier one');
    const scheduled = history.events!.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'generateSeriesPeriod');
    assert.equal(scheduled.length, 1, 'period 101 ran in the second execution');
  });

  it('writes what the importer had to make of an exhibit spec (a rescaled probability vector) beside the tables', async () => {
    await copyFile(join(__dirname, 'fixtures', 'exhibit', 'clinic.yml'), join(dataHome, 'synth-demo', 'raw', 'specs', 'clinic.yml'));
    const { manifest } = await runPipeline('raw/specs/clinic.yml');
    assert.equal(manifest.status, 'succeeded', manifest.stages[0]!.error);
    const warningsRef = manifest.stages[0]!.outputs.warnings;
    assert.ok(warningsRef, JSON.stringify(Object.keys(manifest.stages[0]!.outputs)));
    const warnings = JSON.parse(await readFile(fileURLToPath(warningsRef.uri), 'utf8')) as string[];
    assert.ok(warnings.some((warning) => /probabilities sum to 0\.98; rescaled/.test(warning)), warnings.join(' | '));
  });

  it("writes the statistics a BIT summary file contradicts itself with (an sd its range cannot hold, a mean outside it) as warnings beside the tables", async () => {
    await copyFile(join(__dirname, 'fixtures', 'bit', 'ReadingBuddies_2019_summary_stats.json'), join(dataHome, 'synth-demo', 'raw', 'specs', 'reading.json'));
    const { manifest } = await runPipeline('raw/specs/reading.json', { format: 'tsv' });
    assert.equal(manifest.status, 'succeeded', manifest.stages[0]!.error);
    const outputs = manifest.stages[0]!.outputs;
    const warnings = JSON.parse(await readFile(fileURLToPath(outputs.warnings!.uri), 'utf8')) as string[];
    assert.deepEqual(warnings.map((warning) => warning.split(':')[0]), ['Column_details[6].standard_deviation', 'Column_details[7].mean']);
    const lines = (await readFile(fileURLToPath(outputs.ReadingBuddies_2019!.uri), 'utf8')).split('\n');
    assert.equal(lines.length, 4000 + 3); // datestamp, header, rows, final newline
  });

  it('fails at the start, naming the stage and the spec path, when the spec is invalid', async () => {
    const { manifest, error } = await runPipeline('raw/specs/broken.yaml');
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(String((error.cause as Error | undefined)?.message), /stages\[0\] \(generate-synthetic\): tables\[1\]\.columns\[2\]\.min: min 160 is greater than max 40/);
    assert.equal(manifest.status, 'failed');
    assert.deepEqual(manifest.stages.map((stage) => stage.status), ['pending', 'pending'], 'no stage ran');
  });

  it('refuses a spec above maxRows or maxBytes at the start, before writing anything', async () => {
    const rows = await runPipeline('raw/specs/schools.yaml', { maxRows: 1000 });
    assert.ok(rows.error instanceof WorkflowFailedError);
    assert.match(String((rows.error.cause as Error | undefined)?.message), /maxRows: the spec's tables hold 20300 rows, more than the limit of 1000/);

    const bytes = await runPipeline('raw/specs/schools.yaml', { maxBytes: 10_000 });
    assert.ok(bytes.error instanceof WorkflowFailedError);
    assert.match(String((bytes.error.cause as Error | undefined)?.message), /stages\[0\] \(generate-synthetic\): maxBytes: the spec's tables would take about \d+ bytes, more than the limit of 10000/);
    assert.ok(bytes.manifest.stages.every((stage) => stage.status === 'pending'), 'no stage ran');
    assert.equal(existsSync(join(dataHome, 'synth-demo', 'synth', 'schools', bytes.manifest.runId)), false, 'nothing was written');
  });

  it('stops generating within seconds of a cancel, leaving no temporary file', async () => {
    await writeFile(join(dataHome, 'synth-demo', 'raw', 'specs', 'huge.yaml'), SPEC.replace('rows: 20000', 'rows: 20000000')); // about 40 s of generation, about 1 GB if it finished
    await context.withWorker(deps, async () => {
      const config = parsePipelineConfig({ pipelineName: 'synth-demo', dataRoot: 'synth-demo', stages: [{ stage: 'generate-synthetic', spec: 'raw/specs/huge.yaml' }] });
      const started = await startPipelineRun(context.client, { config, taskQueue: context.taskQueue });
      assert.equal(started.kind, 'started');
      if (started.kind !== 'started') return;
      const folder = join(dataHome, 'synth-demo', 'synth', 'schools', started.runId);
      // Shards write their parts below the dataset's folder (.parts/…), through temporary names.
      const temporaryFiles = async () => (existsSync(folder) ? (await readdir(folder, { recursive: true })).filter((name) => name.includes('.tmp-')) : []);
      for (const until = Date.now() + 60_000; (await temporaryFiles()).length === 0; ) {
        if (Date.now() > until) throw new Error('generation never started');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const cancelledAt = Date.now();
      await started.handle.cancel();
      const error = await started.handle.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(error instanceof WorkflowFailedError);
      for (const until = Date.now() + 20_000; (await temporaryFiles()).length > 0; ) {
        if (Date.now() > until) throw new Error(`temporary files left: ${(await temporaryFiles()).join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const stoppedAfterMs = Date.now() - cancelledAt;
      assert.ok(stoppedAfterMs < 15_000, `stopped ${stoppedAfterMs} ms after the cancel`);
      assert.equal(existsSync(join(folder, 'pupils.csv')), false, 'no table was finished');
    });
  });
});
