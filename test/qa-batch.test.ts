/**
 * The qa stage on a batch: specs listed and matched by glob, datasets named by generate-synthetic's batch
 * index ({name, spec, table, uri}), each checked in its own activity of the qaRun child workflow, reused
 * by a rerun, redone by an overwrite, and summarised once for the batch (and in BIT's layout, one file per
 * comparison holding every dataset). The index is written here, with tables from the generator, and
 * handed to qa as the outputs of generate-synthetic, whose plan (a stand-in) finds the batch already done.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { parse as parseYaml } from 'yaml';

import { type ActivityDeps, createActivities } from '../activities';
import { BadInputError } from '../activities/errors';
import { type BatchDatasetEntry, planQaBatch, preflightQa, type QaConfig, type QaRequest } from '../activities/qa/qa-batch';
import { globFiles } from '../activities/storage/folder-glob';
import { writeTableFile } from '../activities/synth/generate';
import { parseSynthSpec } from '../activities/synth/spec';
import type { SyntheticPlan } from '../activities/synth/synthetic-batch';
import { parsePipelineConfig } from '../config/pipeline-config';
import { temporaryFolder } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext, testBlobStore, testLogger } from './helpers/pipeline-worker';

const specText = (name: string, seed: number, table: string) => `
name: ${name}
seed: ${seed}
tables:
  - name: ${table}
    rows: 3000
    columns:
      - { name: id, type: id, format: { kind: row-number, start: 1 } }
      - { name: region, type: categorical, values: { North: 0.5, South: 0.3, East: 0.2 } }
      - { name: group, type: categorical, values: { A: 0.6, B: 0.4 } }
      - { name: score, type: numeric, distribution: normal, mean: 50, sd: 10, min: 0, max: 100, precision: 1 }
      - { name: age, type: numeric, kind: integer, min: 10, max: 18 }
`;

/** Three specs of the batch (two matched by a glob, one named), and one the batch leaves out. */
const SPECS = {
  'raw/specs/north.yaml': specText('north', 1, 'pupils'),
  'raw/specs/south.yaml': specText('south', 2, 'pupils'),
  'raw/other/schools.yaml': specText('schools', 3, 'schools'),
  'raw/elsewhere/left-out.yaml': specText('left-out', 4, 'pupils'),
} as const;
const BATCH = ['raw/specs/*.yaml', 'raw/other/schools.yaml'];

interface Summary {
  datasets: Array<{ name: string; spec: string; table: string; rows: number; ks_p_value: number | null; passed: boolean; status: 'done' | 'reused'; reusedFrom?: string; folder: string }>;
}

describe('qa of a batch of specs', () => {
  let context: PipelineTestContext;
  let dataHome: string;
  let dataRoot: string;
  let deps: ActivityDeps;
  let index: string;
  let entries: BatchDatasetEntry[];

  before(async () => {
    context = await createPipelineTestContext('qa-batch');
    dataHome = await temporaryFolder('qa-batch-home');
    dataRoot = join(dataHome, 'batch');
    deps = { dataHome, blobStore: testBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date('2026-11-22T09:00:00Z') };
    entries = [];
    for (const [path, text] of Object.entries(SPECS)) {
      await mkdir(join(dataRoot, path, '..'), { recursive: true });
      await writeFile(join(dataRoot, path), text);
      const spec = parseSynthSpec(parseYaml(text));
      const table = spec.tables[0]!.name;
      const file = join(dataRoot, 'synth', 'batch', spec.name, `${table}.csv`);
      await writeTableFile(spec, table, file, { format: 'csv' });
      entries.push({ name: `${spec.name}_${table}`, spec: path, table, uri: pathToFileURL(file).href });
    }
    index = join(dataRoot, 'synth', 'batch', 'datasets.json');
    await writeFile(index, JSON.stringify(entries, null, 2));
  });
  after(() => context.close());

  /** generate-synthetic as its batch form leaves it: the index among its outputs (its plan finds the batch done). */
  const generated = async (): Promise<SyntheticPlan> => ({ inputsHash: 'batch', reused: { runId: 'earlier-run', outputs: { datasets: { uri: pathToFileURL(index).href } } }, datasets: [] });

  async function runBatch(qa: Record<string, unknown>, overwrite = false, overrides: Record<string, (input: never) => Promise<unknown>> = {}) {
    const config = parsePipelineConfig({
      pipelineName: 'qa-batch',
      dataRoot: 'batch',
      operatorWaitLimit: '0s',
      stages: [{ stage: 'generate-synthetic', spec: 'raw/specs/north.yaml' }, { stage: 'qa', specs: BATCH, ...qa }],
    });
    const run = await context.runToEnd(deps, { config, overwrite }, { planSyntheticBatch: generated, ...overrides });
    assert.equal(run.error, undefined, String(run.error));
    const history = await context.client.workflow.getHandle(`${run.workflowId}-qa`).fetchHistory();
    const activities = (history.events ?? []).flatMap((event) => (event.activityTaskScheduledEventAttributes ? [event.activityTaskScheduledEventAttributes.activityType!.name!] : []));
    const stage = run.manifest.stages[1]!;
    const summary = JSON.parse(await readFile(join(dataRoot, 'qa', run.runId, 'summary.json'), 'utf8')) as Summary;
    return { run, stage, activities, summary };
  }

  let firstRunId: string;

  it('checks each dataset of the batch in its own activity and lists them all in one summary', async () => {
    const { run, stage, activities, summary } = await runBatch({});
    firstRunId = run.runId;
    assert.equal(stage.status, 'succeeded');
    assert.deepEqual(activities, ['planQaBatch', 'qaDataset', 'qaDataset', 'qaDataset', 'finishQaBatch'], 'one activity per dataset, between the plan and the finish');
    assert.equal(stage.note, '3 datasets: 3 checked, 0 already checked');
    assert.deepEqual(
      summary.datasets.map(({ name, spec, table, status }) => ({ name, spec, table, status })),
      [
        { name: 'north_pupils', spec: 'raw/specs/north.yaml', table: 'pupils', status: 'done' },
        { name: 'south_pupils', spec: 'raw/specs/south.yaml', table: 'pupils', status: 'done' },
        { name: 'schools_schools', spec: 'raw/other/schools.yaml', table: 'schools', status: 'done' },
      ],
      'every dataset whose spec is in the batch, in the index order; left-out.yaml is not checked',
    );
    for (const dataset of summary.datasets) {
      assert.equal(dataset.rows, 3000);
      assert.ok(typeof dataset.ks_p_value === 'number' && dataset.ks_p_value >= 0 && dataset.ks_p_value <= 1, `${dataset.name}: KS p-value ${dataset.ks_p_value}`);
      assert.equal(dataset.folder, pathToFileURL(join(dataRoot, 'qa', run.runId, dataset.name)).href);
      const corr = JSON.parse(await readFile(join(dataRoot, 'qa', run.runId, dataset.name, 'corr_p_values.json'), 'utf8')) as unknown[];
      assert.equal(corr.length, 1 + 1 + 4, 'score×age, region×group, four ANOVAs');
    }
    assert.deepEqual(Object.keys(stage.outputs).sort(), ['north_pupils', 'report', 'schools_schools', 'south_pupils', 'summary']);
    const report = await readFile(join(dataRoot, 'qa', run.runId, 'report.html'), 'utf8');
    assert.match(report, /<title>QA of 3 datasets<\/title>/);
    assert.match(report, /Checked against table schools of raw\/other\/schools\.yaml/);
  });

  it('reuses every dataset checked before with the same inputs on a rerun, and redoes them all when the run overwrites, retrying a failed one alone', async () => {
    const again = await runBatch({});
    assert.deepEqual(again.activities.filter((name) => name === 'qaDataset').length, 3);
    assert.equal(again.stage.status, 'skipped');
    assert.equal(again.stage.note, '3 datasets: 0 checked, 3 already checked');
    assert.deepEqual(
      again.summary.datasets.map(({ status, reusedFrom, folder }) => ({ status, reusedFrom, inFirstRun: folder.includes(`/qa/${firstRunId}/`) })),
      Array.from({ length: 3 }, () => ({ status: 'reused', reusedFrom: firstRunId, inFirstRun: true })),
    );

    const real = createActivities(deps);
    const calls: string[] = [];
    const failOnce = {
      qaDataset: async (input: Parameters<typeof real.qaDataset>[0]) => {
        calls.push(input.dataset.name);
        if (input.dataset.name === 'south_pupils' && calls.filter((name) => name === 'south_pupils').length === 1) throw new Error('worker lost its disk for a moment');
        return real.qaDataset(input);
      },
    };
    const overwritten = await runBatch({ retry: { initialInterval: '100ms' } }, true, failOnce);
    assert.equal(overwritten.stage.status, 'succeeded');
    assert.deepEqual([...calls].sort(), ['north_pupils', 'schools_schools', 'south_pupils', 'south_pupils'], 'only the failed dataset ran again');
    assert.deepEqual(overwritten.summary.datasets.map((dataset) => dataset.status), ['done', 'done', 'done']);
    assert.ok(overwritten.summary.datasets.every((dataset) => dataset.folder.includes(`/qa/${overwritten.run.runId}/`)));
  });

  it("holds every dataset of the batch in each of BIT's files, keyed by its cleaned name", async () => {
    const { run, stage, summary } = await runBatch({ layout: 'bit' });
    assert.deepEqual(Object.keys(stage.outputs).sort(), ['categorical_metrics_comparison', 'corr_p_values', 'corr_p_values_WARNING_notes', 'numerical_metrics_comparison', 'report', 'summary']);
    assert.deepEqual(summary.datasets.map((dataset) => dataset.status), ['reused', 'reused', 'reused'], "a dataset's QA does not depend on the batch's layout");
    for (const file of ['numerical_metrics_comparison', 'categorical_metrics_comparison', 'corr_p_values', 'corr_p_values_WARNING_notes']) {
      const content = JSON.parse(await readFile(join(dataRoot, 'qa', run.runId, `${file}.json`), 'utf8')) as Record<string, unknown[]>;
      assert.deepEqual(Object.keys(content), ['north_pupils', 'south_pupils', 'schools_schools'], file);
      if (file !== 'corr_p_values_WARNING_notes') assert.ok(Object.values(content).every((rows) => rows.length > 0), file);
    }
  });

  describe('bad input, named by its field', () => {
    const request = (stage: Partial<QaConfig>, upstream: QaRequest['upstream'] = { 'generate-synthetic': { datasets: { uri: pathToFileURL(index).href } } }): QaRequest => ({
      runId: 'run-bad',
      pipelineName: 'qa-batch',
      dataRoot,
      overwrite: false,
      upstream,
      stage: { stage: 'qa', specFormat: 'auto', alpha: 0.05, layout: 'per-dataset', ...stage },
    });
    const badInput = (pattern: RegExp) => (err: unknown) => err instanceof BadInputError && pattern.test(err.message);

    it('refuses a qa stage naming no spec, before the run starts', () => {
      assert.throws(() => parsePipelineConfig({ pipelineName: 'qa-batch', dataRoot: 'batch', stages: [{ stage: 'qa', table: 'pupils' }] }), /stages\[0\]\.spec: qa needs `spec` or `specs`/);
    });

    it('refuses a glob matching no file, and a spec of the batch the stage before made no dataset from', async () => {
      await assert.rejects(planQaBatch(dataRoot, request({ specs: ['raw/specs/*.yaml', 'raw/nothing/*.yml'] })), badInput(/^specs\[1\]: "raw\/nothing\/\*\.yml" matches no file in the data root$/));
      await assert.rejects(preflightQa(dataRoot, request({ specs: ['raw/nothing/**/*.yaml'] }).stage), badInput(/^specs\[0\]: "raw\/nothing\/\*\*\/\*\.yaml" matches no file/));
      await writeFile(join(dataRoot, 'raw', 'specs', 'extra.yaml'), specText('extra', 9, 'pupils'));
      try {
        await assert.rejects(planQaBatch(dataRoot, request({ specs: BATCH })), badInput(/^specs\[0\]: no dataset of the stage before was generated from raw\/specs\/extra\.yaml$/));
      } finally {
        await rm(join(dataRoot, 'raw', 'specs', 'extra.yaml'));
      }
      await assert.rejects(planQaBatch(dataRoot, request({ specs: BATCH, table: 'pupils' })), badInput(/^specs\[1\]: no dataset with table "pupils" of the stage before was generated from raw\/other\/schools\.yaml$/));
    });

    it("names the batch entry of a spec that does not load, and refuses several specs when the stage before names no spec per dataset", async () => {
      await writeFile(join(dataRoot, 'raw', 'other', 'broken.yaml'), specText('broken', 5, 'pupils').replace('min: 0, max: 100', 'min: 100, max: 0'));
      try {
        await assert.rejects(preflightQa(dataRoot, request({ specs: ['raw/other/*.yaml'] }).stage), badInput(/^specs\[0\] \(raw\/other\/broken\.yaml\): tables\[0\]\.columns\[3\]/m));
      } finally {
        await rm(join(dataRoot, 'raw', 'other', 'broken.yaml'));
      }
      const series = { 'generate-series': { datasets: { uri: pathToFileURL(index).href } } };
      await assert.rejects(planQaBatch(dataRoot, request({ specs: BATCH }, series)), badInput(/^specs: 3 specs, but the stage before names no spec per dataset/));
      // One spec, as before the batch: every dataset of a series against it.
      const plan = await planQaBatch(dataRoot, request({ spec: 'raw/specs/north.yaml' }, series));
      assert.deepEqual(plan.datasets.map((dataset) => [dataset.name, dataset.spec, dataset.table]), entries.map((entry) => [entry.name, 'raw/specs/north.yaml', 'pupils']));
    });
  });
});

describe('glob patterns in a data root', () => {
  it('matches * ? ** [] and {} within the root, leaving out hidden files unless asked', async () => {
    const root = await temporaryFolder('glob');
    for (const path of ['a.yaml', 'b.yml', 'specs/x1.yaml', 'specs/x2.json', 'specs/deep/er/x3.yaml', 'specs/.hidden.yaml', '.git/y.yaml']) {
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), '');
    }
    assert.deepEqual(await globFiles(root, '*.yaml'), ['a.yaml']);
    assert.deepEqual(await globFiles(root, '*.{yaml,yml}'), ['a.yaml', 'b.yml']);
    assert.deepEqual(await globFiles(root, 'specs/x?.*'), ['specs/x1.yaml', 'specs/x2.json']);
    assert.deepEqual(await globFiles(root, 'specs/x[!1].*'), ['specs/x2.json']);
    assert.deepEqual(await globFiles(root, '**/*.yaml'), ['a.yaml', 'specs/deep/er/x3.yaml', 'specs/x1.yaml']);
    assert.deepEqual(await globFiles(root, 'specs/.*.yaml'), ['specs/.hidden.yaml']);
    assert.deepEqual(await globFiles(root, 'nothing/*'), []);
    assert.deepEqual(await globFiles(root, '../*'), [], 'a pattern never leaves the folder');
  });
});
