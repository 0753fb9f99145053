/**
 * generate-synthetic on several workers: a batch of specs (a glob) whose tables are split into row-range
 * shards, served by two worker processes on one task queue. Both must run shards, the joined tables must
 * be byte-identical to one-pass generation, the batch summary and dataset index must list every dataset,
 * a second run must reuse the batch, a larger batch must reuse the datasets already done, and no part or
 * temporary file may remain.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { BadInputError } from '../activities/errors';
import type { RunManifest } from '../activities/runs/types';
import { generateTableText } from '../activities/synth/generate';
import { preflightGenerateSynthetic } from '../activities/synth/generate-synthetic';
import { loadSynthSpec } from '../activities/synth/load-spec';
import type { DatasetIndexEntry, DatasetSummary } from '../activities/synth/synthetic-batch';
import { startPipelineRun } from '../client/pipeline-client';
import { parsePipelineConfig } from '../config/pipeline-config';
import { startWorkerProcess } from '../scripts/lib/worker-process';
import { temporaryFolder, testServers } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext } from './helpers/pipeline-worker';
import { schoolsSpecYaml } from './helpers/synth';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** 12,000 rows in shards of 1,000: 12 shards. */
const PEOPLE = `
name: people
seed: 5
tables:
  - name: people
    rows: 12000
    columns:
      - { name: person_id, type: id, format: { kind: uuid, prefix: p- }, primaryKey: true }
      - { name: age, type: numeric, distribution: normal, mean: 40, sd: 12, min: 18, max: 90, precision: 0 }
      - { name: region, type: categorical, values: { North: 0.3, South: 0.5, East: 0.2 } }
`;

/** Two tables, one below a shard (one shard), one of 7,500 rows (8 shards, the last one short). */
const SCHOOLS = schoolsSpecYaml(7500);

const TINY = 'name: tiny\nseed: 3\ntables:\n  - name: things\n    rows: 50\n    columns:\n      - { name: thing_id, type: id, format: { kind: digits, minLength: 6, maxLength: 8 }, primaryKey: true }\n';

describe('generate-synthetic: a batch in shards on two worker processes', () => {
  let context: PipelineTestContext;
  let dataHome: string;
  const taskQueue = `synth-shards-${Date.now().toString(36)}`;
  const workers: ChildProcess[] = [];

  before(async () => {
    context = await createPipelineTestContext('synth-shards');
    dataHome = await temporaryFolder('synth-shards-home');
    await mkdir(join(dataHome, 'shards', 'raw', 'specs'), { recursive: true });
    await mkdir(join(dataHome, 'shards', 'raw', 'more'), { recursive: true });
    await writeFile(join(dataHome, 'shards', 'raw', 'specs', 'people.yaml'), PEOPLE);
    await writeFile(join(dataHome, 'shards', 'raw', 'specs', 'schools.yaml'), SCHOOLS);
    await writeFile(join(dataHome, 'shards', 'raw', 'more', 'tiny.yaml'), TINY);
    await writeFile(join(dataHome, 'shards', 'raw', 'more', 'people-again.yaml'), PEOPLE);
  });
  after(async () => {
    for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await context?.close();
  });

  const configWith = (specs: string[]) =>
    parsePipelineConfig({ pipelineName: 'shards', dataRoot: 'shards', operatorWaitLimit: '0s', stages: [{ stage: 'generate-synthetic', specs, shardRows: 1000 }] });

  async function run(specs: string[]): Promise<{ manifest: RunManifest; workflowId: string }> {
    const started = await startPipelineRun(context.client, { config: configWith(specs), taskQueue });
    assert.equal(started.kind, 'started');
    if (started.kind !== 'started') throw new Error('not started');
    const manifest = (await started.handle.result()) as RunManifest;
    assert.equal(manifest.status, 'succeeded', manifest.stages.map((stage) => `${stage.name}: ${stage.error ?? stage.status}`).join('; '));
    return { manifest, workflowId: started.workflowId };
  }

  it('runs shards on both workers, joins byte-identical tables, summarises the batch, reuses it, and leaves no part behind', async (t) => {
    const started = await Promise.all([0, 1].map(() => startWorkerProcess({ temporalAddress: testServers.temporalAddress, taskQueue, dataHome })));
    workers.push(...started);

    const first = await run(['raw/specs/*.yaml']);
    const stage = first.manifest.stages[0]!;
    assert.equal(stage.status, 'succeeded');
    assert.equal(stage.note, '2 dataset(s): 2 generated, 0 already there');

    // Who ran the shards: each ActivityTaskStarted event names the worker (pid@host) that took the task.
    const history = await context.client.workflow.getHandle(`${first.workflowId}-generate-synthetic`).fetchHistory();
    const typeOf = new Map(history.events!.filter((event) => event.activityTaskScheduledEventAttributes).map((event) => [Number(event.eventId), event.activityTaskScheduledEventAttributes!.activityType!.name!]));
    const shardStarts = history.events!.filter((event) => event.activityTaskStartedEventAttributes && typeOf.get(Number(event.activityTaskStartedEventAttributes.scheduledEventId)) === 'generateSyntheticShard');
    assert.equal(shardStarts.length, 12 + 1 + 8, 'one activity per shard');
    const identities = new Set(shardStarts.map((event) => event.activityTaskStartedEventAttributes!.identity!));
    const pids = new Set([...identities].map((identity) => Number(identity.split('@')[0])));
    t.diagnostic(`shards per worker: ${[...identities].map((identity) => `${identity}×${shardStarts.filter((event) => event.activityTaskStartedEventAttributes!.identity === identity).length}`).join(', ')}`);
    assert.deepEqual([...pids].sort(), workers.map((worker) => worker.pid!).sort(), 'both worker processes ran shards');
    // Shards go to the shard queue, where each worker runs two at a time (PIPELINE_SHARD_SLOTS): a worker
    // starts a third only once it has reported one (the server's clock, to a few ms).
    const shardScheduled = history.events!.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'generateSyntheticShard');
    assert.deepEqual([...new Set(shardScheduled.map((event) => event.activityTaskScheduledEventAttributes!.taskQueue!.name))], [`${taskQueue}.shards`]);
    const at = (event: (typeof history.events & object)[number]) => Number(event.eventTime!.seconds) * 1000 + (event.eventTime!.nanos ?? 0) / 1e6;
    const completedAt = new Map(history.events!.filter((event) => event.activityTaskCompletedEventAttributes).map((event) => [Number(event.activityTaskCompletedEventAttributes!.startedEventId), at(event)]));
    for (const identity of identities) {
      const spans = shardStarts.filter((event) => event.activityTaskStartedEventAttributes!.identity === identity).map((event) => ({ start: at(event), end: completedAt.get(Number(event.eventId))! }));
      const atOnce = Math.max(...spans.map((span) => spans.filter((other) => other.start <= span.start && other.end - 20 > span.start).length));
      t.diagnostic(`${identity}: ${spans.length} shards, at most ${atOnce} at once`);
      assert.ok(atOnce <= 2, `${identity} ran at most 2 shards at once, not ${atOnce}`);
    }
    // A table of several shards is joined by one activity scheduled with its shards, which completes after the last of them.
    const joins = history.events!.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'joinSyntheticShardsAsTheyFinish');
    assert.equal(joins.length, 2, 'people and pupils have several shards');
    const firstShardCompleted = Math.min(...history.events!.filter((event) => event.activityTaskCompletedEventAttributes && typeOf.get(Number(event.activityTaskCompletedEventAttributes.scheduledEventId)) === 'generateSyntheticShard').map((event) => Number(event.eventId)));
    assert.ok(joins.every((event) => Number(event.eventId) < firstShardCompleted), 'the joins were scheduled before any shard finished');
    const concats = history.events!.filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name === 'concatSyntheticTable');
    assert.equal(concats.length, 1, "only schools (one shard, renamed) is joined after its shard");

    // The joined tables are exactly one-pass generation of the same spec.
    for (const name of ['people', 'schools']) {
      const { spec } = await loadSynthSpec(join(dataHome, 'shards', 'raw', 'specs', `${name}.yaml`));
      for (const table of spec.tables) {
        const written = await readFile(fileURLToPath(stage.outputs[`${name}/${table.name}`]!.uri));
        assert.equal(sha256(written), sha256(generateTableText(spec, table.name, { format: 'csv' })), `${name}/${table.name}.csv`);
        assert.equal(stage.outputs[`${name}/${table.name}`]!.sha256, sha256(written));
      }
    }

    const summary = JSON.parse(await readFile(fileURLToPath(stage.outputs.summary!.uri), 'utf8')) as { datasets: DatasetSummary[] };
    assert.deepEqual(
      summary.datasets.map((dataset) => [dataset.name, dataset.spec, dataset.status, dataset.rows, dataset.tables.map((table) => table.name)]),
      [
        ['people', 'raw/specs/people.yaml', 'generated', 12000, ['people']],
        ['schools', 'raw/specs/schools.yaml', 'generated', 7800, ['schools', 'pupils']],
      ],
    );
    for (const dataset of summary.datasets) {
      for (const table of dataset.tables) assert.equal(table.sha256, sha256(await readFile(fileURLToPath(table.uri))), `${dataset.name}/${table.name} in the summary`);
      assert.equal(dataset.bytes, dataset.tables.reduce((sum, table) => sum + table.bytes, 0));
    }
    const index = JSON.parse(await readFile(fileURLToPath(stage.outputs.datasets!.uri), 'utf8')) as DatasetIndexEntry[];
    assert.deepEqual(
      index.map((entry) => [entry.name, entry.spec, entry.table, entry.uri]),
      [
        ['people', 'raw/specs/people.yaml', 'people', stage.outputs['people/people']!.uri],
        ['schools/schools', 'raw/specs/schools.yaml', 'schools', stage.outputs['schools/schools']!.uri],
        ['schools/pupils', 'raw/specs/schools.yaml', 'pupils', stage.outputs['schools/pupils']!.uri],
      ],
    );

    const synth = join(dataHome, 'shards', 'synth');
    const leftovers = async () => (await readdir(synth, { recursive: true })).filter((name) => name.includes('.parts') || name.includes('.tmp-'));
    assert.deepEqual(await leftovers(), [], 'no part or temporary file remains');

    // The same batch again: skipped as a whole, the first run's outputs reused.
    const second = await run(['raw/specs/*.yaml']);
    assert.equal(second.manifest.stages[0]!.status, 'skipped');
    assert.deepEqual(second.manifest.stages[0]!.outputs, stage.outputs);

    // A larger batch: the two datasets done already are reused, only the new one is generated.
    const third = await run(['raw/specs/*.yaml', 'raw/more/tiny.yaml']);
    assert.equal(third.manifest.stages[0]!.status, 'succeeded');
    assert.equal(third.manifest.stages[0]!.note, '3 dataset(s): 1 generated, 2 already there');
    const thirdSummary = JSON.parse(await readFile(fileURLToPath(third.manifest.stages[0]!.outputs.summary!.uri), 'utf8')) as { datasets: DatasetSummary[] };
    assert.deepEqual(
      thirdSummary.datasets.map((dataset) => [dataset.name, dataset.status, dataset.runId]),
      [
        ['people', 'reused', first.manifest.runId],
        ['schools', 'reused', first.manifest.runId],
        ['tiny', 'generated', third.manifest.runId],
      ],
    );
    assert.equal(third.manifest.stages[0]!.outputs['people/people']!.uri, stage.outputs['people/people']!.uri, 'a reused dataset points to the files of the run that made it');
    assert.deepEqual(await leftovers(), []);
  });

  it('refuses, before anything runs, a glob that matches nothing and two specs with one name, naming the field', async () => {
    const dataRoot = join(dataHome, 'shards');
    const stage = (specs: string[]) => configWith(specs).stages[0] as Parameters<typeof preflightGenerateSynthetic>[0]['stage'];
    await assert.rejects(preflightGenerateSynthetic({ dataRoot, stage: stage(['raw/specs/people.yaml', 'raw/nothing/*.yaml']) }), (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.equal(err.message, 'specs[1]: "raw/nothing/*.yaml" matches no file in the data root');
      return true;
    });
    await assert.rejects(preflightGenerateSynthetic({ dataRoot, stage: stage(['raw/specs/*.yaml', 'raw/more/people-*.yaml']) }), (err: unknown) => {
      assert.ok(err instanceof BadInputError);
      assert.match(err.message, /^specs\[1\]: raw\/more\/people-again\.yaml has the spec name "people", as raw\/specs\/people\.yaml \(specs\[0\]\) has/);
      return true;
    });
    assert.throws(() => parsePipelineConfig({ pipelineName: 'shards', dataRoot: 'shards', stages: [{ stage: 'generate-synthetic', specs: ['../outside/*.yaml'] }] }), /specs\.0|specs\[0\]/);
  });
});
