/**
 * The shard and join activities' functions without Temporal: a part is reused only when it is provably
 * complete (committed, recorded, digest matching), otherwise generated again; a join after a crash
 * regenerates a lost part and gives the same bytes; a join whose table is already there is not redone.
 * And the glob patterns a batch names.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { MockActivityEnvironment } from '@temporalio/testing';

import { createActivities } from '../activities';
import type { StageResult } from '../activities/runs/types';
import { globFiles } from '../activities/storage/folder-glob';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { generateTableText } from '../activities/synth/generate';
import { syntheticJobOf } from '../activities/synth/generate-synthetic';
import { shardRanges } from '../activities/synth/generate-synthetic.stage';
import { loadSynthSpec } from '../activities/synth/load-spec';
import { concatTable, generateShard, joinShardsAsTheyFinish, planBatch, type ShardOutcome, type WorkScope } from '../activities/synth/synthetic-batch';
import { parsePipelineConfig } from '../config/pipeline-config';
import { temporaryFolder } from './helpers/environment';
import { testLogger } from './helpers/pipeline-worker';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

const SPEC = `
name: people
seed: 9
tables:
  - name: people
    rows: 5500
    columns:
      - { name: person_id, type: id, format: { kind: uuid, prefix: p- }, primaryKey: true }
      - { name: age, type: numeric, kind: integer, min: 18, max: 90 }
`;

describe('generate-synthetic parts and joins', () => {
  let dataRoot: string;
  let scope: WorkScope & { now: () => Date };

  before(async () => {
    dataRoot = await temporaryFolder('synth-parts');
    await mkdir(join(dataRoot, 'raw', 'specs', 'nested', 'deeper'), { recursive: true });
    await writeFile(join(dataRoot, 'raw', 'specs', 'people.yaml'), SPEC);
    scope = { dataRoot, blobStore: new LocalBlobStore(join(dataRoot, '.buckets')), logger: testLogger(), now: () => new Date('2026-11-22T00:00:00Z'), reportProgress: () => undefined, signal: new AbortController().signal };
  });

  const jobFor = (runId: string) => {
    const config = parsePipelineConfig({ pipelineName: 'parts', dataRoot: 'parts', stages: [{ stage: 'generate-synthetic', spec: 'raw/specs/people.yaml', shardRows: 1000, datestampLine: true }] });
    return syntheticJobOf({ runId, pipelineName: 'parts', dataRoot: 'parts', stage: config.stages[0] as never, upstream: {}, overwrite: false });
  };

  /** A planned run of the people spec: its job, dataset, datestamp line and shards (6 of 1000 rows). */
  async function plannedRun(runId: string) {
    const job = jobFor(runId);
    const plan = await planBatch(job, scope);
    return { job, dataset: plan.datasets[0]!, commentLine: plan.commentLine!, ranges: shardRanges(5500, 1000) };
  }

  it('reuses a recorded part only when its digest matches, and joins the same bytes after losing a part', async () => {
    const { job, dataset, commentLine, ranges } = await plannedRun('run-1');
    assert.equal(dataset.tables[0]!.shards, 6);
    const parts: ShardOutcome[] = [];
    for (const shard of ranges) parts.push(await generateShard({ job, dataset, table: 'people', shard, commentLine }, scope));
    assert.ok(parts.every((part) => !part.reused));

    const partsFolder = join(dataRoot, 'synth', 'people', 'run-1', '.parts', dataset.inputsHash.slice(0, 16));
    const partFile = (index: number) => join(partsFolder, `people.${String(index).padStart(6, '0')}.csv`);
    // A retried shard finds its part committed and recorded: reused.
    const again = await generateShard({ job, dataset, table: 'people', shard: ranges[2]!, commentLine }, scope);
    assert.equal(again.reused, true);
    assert.equal(again.sha256, parts[2]!.sha256);

    // Same length, other bytes (a torn disk write, a stray editor): not its record's digest, so generated again.
    const original = await readFile(partFile(3));
    await writeFile(partFile(3), Buffer.alloc(original.length, 'x'));
    const redone = await generateShard({ job, dataset, table: 'people', shard: ranges[3]!, commentLine }, scope);
    assert.equal(redone.reused, false);
    assert.deepEqual(await readFile(partFile(3)), original);

    // A part without its record (the worker died between the two) is not trusted either.
    await rm(`${partFile(1)}.json`);
    assert.equal((await generateShard({ job, dataset, table: 'people', shard: ranges[1]!, commentLine }, scope)).reused, false);

    // The join finds a part gone (a crash, a cleaner): it generates it again, and the table is one-pass generation.
    await rm(partFile(4));
    const joined = await concatTable({ job, dataset, table: 'people', parts, commentLine }, scope);
    const loaded = await loadSynthSpec(join(dataRoot, 'raw', 'specs', 'people.yaml'));
    const expected = generateTableText(loaded.spec, 'people', { format: 'csv', commentLine });
    const written = await readFile(fileURLToPath(joined.file.uri));
    assert.equal(sha256(written), sha256(expected));
    assert.equal(joined.file.sha256, sha256(expected));
    assert.deepEqual((await readdir(partsFolder)).sort(), ['people.done.json'], 'the parts are gone once the table is there');

    // A retried join after the table was committed (its result lost): the table is kept, not rebuilt from parts that are gone.
    const retried = await concatTable({ job, dataset, table: 'people', parts, commentLine }, scope);
    assert.deepEqual(retried.file, joined.file);
  });

  it('joins parts as their shards commit them, in order whatever order they come in, waiting out a part of other rows', async () => {
    const { job, dataset, commentLine, ranges } = await plannedRun('run-early');
    const partsFolder = join(dataRoot, 'synth', 'people', 'run-early', '.parts', dataset.inputsHash.slice(0, 16));
    // A part an earlier attempt wrote with other shardRows (rows 0–2000) is there already: not shard 0's range.
    await generateShard({ job, dataset, table: 'people', shard: { index: 0, start: 0, end: 2000 }, commentLine }, scope);

    const progress: Array<Record<string, unknown>> = [];
    const joining = joinShardsAsTheyFinish({ job, dataset, table: 'people', rows: 5500, shardRows: 1000, waitLimitMs: 60_000 }, { ...scope, reportProgress: (details) => progress.push(details) });
    // The shards finish out of order, while the join waits.
    const outcomes: ShardOutcome[] = [];
    for (const index of [3, 1, 5, 0, 4, 2]) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      outcomes.push(await generateShard({ job, dataset, table: 'people', shard: ranges[index]!, commentLine }, scope));
    }
    const outcome = await joining;
    assert.ok('joined' in outcome, 'joined, not deferred');
    const loaded = await loadSynthSpec(join(dataRoot, 'raw', 'specs', 'people.yaml'));
    const expected = sha256(generateTableText(loaded.spec, 'people', { format: 'csv', commentLine }));
    assert.equal(sha256(await readFile(fileURLToPath(outcome.joined.file.uri))), expected);
    assert.equal(outcome.joined.file.sha256, expected);
    assert.deepEqual(
      outcome.parts.map((part) => [part.index, part.start, part.end, part.sha256]),
      [...outcomes].sort((a, b) => a.index - b.index).map((part) => [part.index, part.start, part.end, part.sha256]),
      'the parts joined are the shards the workflow heard of',
    );
    assert.ok(progress.some((details) => details.waitingForPart === true), 'it heartbeats while it waits');
    assert.deepEqual((await readdir(partsFolder)).sort(), ['people.done.json']);

    // A retry after the table was committed keeps it and reports the same parts.
    const retried = await joinShardsAsTheyFinish({ job, dataset, table: 'people', rows: 5500, shardRows: 1000, waitLimitMs: 10 }, scope);
    assert.deepEqual(retried, outcome);
  });

  it('regenerates a part torn by a crash (same size, other bytes) and fails the attempt, whose retry joins whole parts', async () => {
    const { job, dataset, commentLine, ranges } = await plannedRun('run-torn');
    const parts: ShardOutcome[] = [];
    for (const shard of ranges) parts.push(await generateShard({ job, dataset, table: 'people', shard, commentLine }, scope));
    const partFile = join(dataRoot, 'synth', 'people', 'run-torn', '.parts', dataset.inputsHash.slice(0, 16), 'people.000004.csv');
    const loaded = await loadSynthSpec(join(dataRoot, 'raw', 'specs', 'people.yaml'));
    const expected = sha256(generateTableText(loaded.spec, 'people', { format: 'csv', commentLine }));
    const joinEarly = async () => {
      const outcome = await joinShardsAsTheyFinish({ job, dataset, table: 'people', rows: 5500, shardRows: 1000, commentLine, waitLimitMs: 60_000 }, scope);
      assert.ok('joined' in outcome);
      return outcome.joined;
    };
    for (const runJoin of [joinEarly, () => concatTable({ job, dataset, table: 'people', parts, commentLine }, scope)]) {
      const whole = await readFile(partFile);
      await writeFile(partFile, Buffer.alloc(whole.length, 'x'));
      await assert.rejects(runJoin(), /part 4 did not match its record \(a crash tore it\); it was generated again/);
      assert.deepEqual(await readFile(partFile), whole, 'generated again');
      const retried = await runJoin();
      assert.equal(retried.file.sha256, expected);
      assert.equal(sha256(await readFile(fileURLToPath(retried.file.uri))), expected);
      // The next round starts from parts again.
      await rm(join(dataRoot, 'synth', 'people', 'run-torn', '.parts', dataset.inputsHash.slice(0, 16), 'people.done.json'));
      for (const shard of ranges) await generateShard({ job, dataset, table: 'people', shard, commentLine }, scope);
    }
  });

  it('gives up waiting for a part after its limit, writing nothing, and stops on an abort', async () => {
    const { job, dataset, commentLine, ranges } = await plannedRun('run-slow');
    await generateShard({ job, dataset, table: 'people', shard: ranges[0]!, commentLine }, scope);
    const outcome = await joinShardsAsTheyFinish({ job, dataset, table: 'people', rows: 5500, shardRows: 1000, waitLimitMs: 150 }, scope);
    assert.deepEqual(outcome, { waitedTooLong: true });
    const runFolder = join(dataRoot, 'synth', 'people', 'run-slow');
    assert.deepEqual((await readdir(runFolder)).sort(), ['.parts'], 'no table and no temporary file');

    const controller = new AbortController();
    const aborted = joinShardsAsTheyFinish({ job, dataset, table: 'people', rows: 5500, shardRows: 1000, waitLimitMs: 60_000 }, { ...scope, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('cancelled')), 50);
    await assert.rejects(aborted, /cancelled/);
    assert.deepEqual((await readdir(runFolder)).sort(), ['.parts']);
  });

  it('still runs the whole stage as one activity for runs whose recorded plan says so (started before shards), then skips it', async () => {
    const dataHome = await temporaryFolder('synth-legacy');
    await mkdir(join(dataHome, 'legacy', 'raw', 'specs'), { recursive: true });
    await writeFile(join(dataHome, 'legacy', 'raw', 'specs', 'people.yaml'), SPEC);
    const activities = createActivities({ dataHome, blobStore: new LocalBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date('2026-11-22T00:00:00Z') });
    const config = parsePipelineConfig({ pipelineName: 'legacy', dataRoot: 'legacy', stages: [{ stage: 'generate-synthetic', spec: 'raw/specs/people.yaml', shardRows: 1000 }] });
    const request = (runId: string) => ({ runId, pipelineName: 'legacy', dataRoot: 'legacy', stage: config.stages[0]!, upstream: {}, overwrite: false });
    const oneActivity = activities['generate-synthetic'] as (input: unknown) => Promise<StageResult>;
    const first = (await new MockActivityEnvironment().run(oneActivity, request('run-a'))) as StageResult;
    assert.equal(first.status, 'succeeded');
    const { spec } = await loadSynthSpec(join(dataHome, 'legacy', 'raw', 'specs', 'people.yaml'));
    assert.equal(sha256(await readFile(fileURLToPath(first.outputs.people!.uri))), sha256(generateTableText(spec, 'people', { format: 'csv' })));
    assert.deepEqual((await readdir(join(dataHome, 'legacy', 'synth', 'people', 'run-a'))).sort(), ['people.csv', 'spec.json']);
    // The alias runs from before the stage registry still call.
    const alias = (activities as Record<string, unknown>).generateSynthetic as typeof oneActivity;
    const second = (await new MockActivityEnvironment().run(alias, request('run-b'))) as StageResult;
    assert.equal(second.status, 'skipped');
    assert.deepEqual(second.outputs, first.outputs);
  });

  it('matches glob patterns inside the folder only: * ? ** [..] {a,b}, regular files, no hidden names', async () => {
    for (const name of ['a.yaml', 'b.yml', 'c.json', '.hidden.yaml', 'nested/d.yaml', 'nested/deeper/e.yaml', 'nested/deeper/.f.yaml']) await writeFile(join(dataRoot, 'raw', 'specs', name), SPEC);
    const glob = (pattern: string) => globFiles(dataRoot, pattern);
    assert.deepEqual(await glob('raw/specs/*.yaml'), ['raw/specs/a.yaml', 'raw/specs/people.yaml']);
    assert.deepEqual(await glob('raw/specs/*.{yaml,yml}'), ['raw/specs/a.yaml', 'raw/specs/b.yml', 'raw/specs/people.yaml']);
    assert.deepEqual(await glob('raw/specs/[ab].*'), ['raw/specs/a.yaml', 'raw/specs/b.yml']);
    assert.deepEqual(await glob('raw/specs/?.json'), ['raw/specs/c.json']);
    assert.deepEqual(await glob('raw/**/*.yaml'), ['raw/specs/a.yaml', 'raw/specs/nested/d.yaml', 'raw/specs/nested/deeper/e.yaml', 'raw/specs/people.yaml']);
    assert.deepEqual(await glob('raw/specs/nested/**'), ['raw/specs/nested/d.yaml', 'raw/specs/nested/deeper/e.yaml']);
    assert.deepEqual(await glob('raw/specs/.*.yaml'), ['raw/specs/.hidden.yaml']);
    assert.deepEqual(await glob('raw/nothing/*.yaml'), []);
  });
});
