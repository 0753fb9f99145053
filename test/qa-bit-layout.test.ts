/**
 * QA of data generated from BIT summary statistics: identifiers in the pair tests as BIT's QA tests them,
 * and the layout BIT's R QA writes (one file per batch keyed by the janitor-cleaned dataset name) through
 * the stage's run, the synth CLI and the layout functions.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { bitLayoutFiles, cleanNames, jsonliteNumber } from '../activities/qa/bit-layout';
import { analyseDataset } from '../activities/qa/dataset-qa';
import { qaImplementation } from '../activities/qa/qa';
import { writeTableFile } from '../activities/synth/generate';
import { loadSynthSpec } from '../activities/synth/load-spec';
import { parseSynthSpec } from '../activities/synth/spec';
import { temporaryFolder } from './helpers/environment';
import { testLogger } from './helpers/pipeline-worker';

const run = promisify(execFile);
const FIXTURE = join(__dirname, 'fixtures', 'bit', 'ReadingBuddies_2019_summary_stats.json');

type Row = Record<string, string | number>;

async function generatedFixture(): Promise<{ folder: string; path: string; table: Awaited<ReturnType<typeof loadSynthSpec>>['spec']['tables'][number] }> {
  const { spec } = await loadSynthSpec(FIXTURE);
  const folder = await temporaryFolder('qa-bit');
  const path = join(folder, 'ReadingBuddies_2019.tsv');
  await writeTableFile(spec, spec.tables[0]!.name, path, { format: 'tsv', commentLine: '{"Date generated": "2026-11-22"}' });
  return { folder, path, table: spec.tables[0]! };
}

const decimals = (value: number): number => (String(value).split('.')[1] ?? '').length;

describe('identifiers in QA, as BIT tests them', () => {
  it('tests ids for independence as the type their summary gave them, and says why their values are not compared', async () => {
    const { path, table } = await generatedFixture();
    const qa = await analyseDataset(path, table, '\t');
    assert.deepEqual(qa.compared.numeric, ['Project_Row_ID', 'Anon_Pupil_ID', 'KS1_reading', 'Reading_age_gain', 'Sessions_attended', 'Minutes_per_session']);
    assert.deepEqual(qa.compared.categorical, ['Anon_School_ID', 'FSM_ever', 'Gender']);
    const pupilMean = qa.numerical_metrics_comparison.find((metric) => metric.Name === 'Anon_Pupil_ID' && metric.stat === 'mean')!;
    assert.equal(pupilMean.expected, null);
    assert.ok(pupilMean.value! > 1000);
    assert.ok(qa.categorical_metrics_comparison.every((metric) => metric.Name !== 'Anon_School_ID'), 'no proportions for an id');
    assert.ok(qa.corr_p_values.some((pair) => pair.test === 'chi_square' && pair.Comparison_column_1 === 'Anon_School_ID'));
    assert.ok(qa.corr_p_values.some((pair) => pair.test === 'correlation' && pair.Comparison_column_1 === 'Project_Row_ID'));
    const note = qa.warnings.find((warning) => warning.Name === 'Anon_Pupil_ID');
    assert.match(note?.reason ?? '', /^an identifier, tested for independence as a numeric column \(BIT's QA tests it as the type its summary gave it\)/);
    // Ids are drawn independently of everything else, so their p-values are as uniform as the others'.
    assert.ok(qa.corr_p_values.filter((pair) => /Anon_|Project_Row/.test(pair.Comparison_column_1 + pair.Comparison_column_2)).every((pair) => pair.p_value > 1e-4));
  });
});

describe("BIT's QA layout", () => {
  it('cleans dataset names as janitor::make_clean_names does', () => {
    assert.deepEqual(cleanNames(['ReadingBuddies_2019', 'Maths Mastery Pilot (Wave 2)', '1stClass@Number', 'CraftOfWriting157', 'extNow', 'Änderung %', 'ABCDef', 'dataset_1', 'dataset_1']), [
      'reading_buddies_2019',
      'maths_mastery_pilot_wave_2',
      'x1st_class_number',
      'craft_of_writing157',
      'ext_now',
      'anderung_percent',
      'abc_def',
      'dataset_1',
      'dataset_1_2',
    ]);
  });

  it('rounds numbers as jsonlite does with 4 digits', () => {
    assert.equal(jsonliteNumber(0.123456), 0.1235);
    assert.equal(jsonliteNumber(-12345.67891), -12345.6789);
    assert.equal(jsonliteNumber(3.14159e-7), 3.1416e-7);
    assert.equal(jsonliteNumber(0), 0);
    assert.equal(jsonliteNumber(98765432109.87), 98765432109.87);
  });

  it('writes numerical, categorical and pair rows as R does: synthetic metrics, joined options, ANOVA as (numeric, categorical), statistics beside p-values', async () => {
    const { path, table } = await generatedFixture();
    const qa = await analyseDataset(path, table, '\t');
    const files = bitLayoutFiles([{ name: 'ReadingBuddies_2019', qa }]);
    const numerical = files['numerical_metrics_comparison.json'].reading_buddies_2019!;
    assert.deepEqual(numerical.slice(0, 3).map((row) => row.stat), ['mean', 'standard_deviation', 'missing_value_freq']);
    assert.deepEqual([...new Set(numerical.map((row) => row.Name))], qa.compared.numeric);
    assert.ok(numerical.every((row) => Object.keys(row).join() === 'Name,stat,value' && decimals(row.value as number) <= 4));

    const categorical = files['categorical_metrics_comparison.json'].reading_buddies_2019!;
    const fsm = categorical.filter((row) => row.Name === 'FSM_ever');
    assert.deepEqual(fsm.map((row) => row.Category_Option), ['0', '1', 'nan'], 'options "0.0" and "1.0" as R normalises and reads them');
    assert.ok(fsm.every((row) => typeof row.proportion_original === 'number' && typeof row.proportion_synthetic === 'number'));
    assert.equal(fsm.find((row) => row.Category_Option === '1')!.proportion_original, 0.52);
    assert.ok(categorical.every((row) => row.Name !== 'Anon_School_ID'));

    const pairs = files['corr_p_values.json'].reading_buddies_2019!;
    const tests = pairs.map((row) => row.test);
    assert.deepEqual(tests, [...tests].sort((a, b) => ['anova', 'chi_square', 'correlation'].indexOf(String(a)) - ['anova', 'chi_square', 'correlation'].indexOf(String(b))), 'ANOVA, then chi-square, then correlation rows');
    const anova = pairs.filter((row) => row.test === 'anova');
    assert.equal(anova.length, 6 * 3);
    assert.deepEqual(anova.slice(0, 3).map((row) => [row.Comparison_column_1, row.Comparison_column_2]), [
      ['Project_Row_ID', 'Anon_School_ID'],
      ['Project_Row_ID', 'FSM_ever'],
      ['Project_Row_ID', 'Gender'],
    ]);
    assert.ok(pairs.filter((row) => row.test === 'chi_square').every((row) => typeof row.Chi_Square === 'number' && row.Chi_Square >= 0));
    const correlations = pairs.filter((row) => row.test === 'correlation');
    assert.equal(correlations.length, 15);
    assert.ok(correlations.every((row) => typeof row.Correlation === 'number' && Math.abs(row.Correlation) <= 1));
    assert.ok(pairs.every((row) => typeof row.p_value === 'number' && decimals(row.p_value) <= 4 || (row.p_value as number) < 1e-5));
  });

  it("keeps a correlation without a p-value as R's row without one, and leaves out Project, Project_Type and *_Desc columns", async () => {
    const spec = parseSynthSpec({
      name: 'bit-edge',
      seed: 5,
      tables: [
        {
          name: 'pupils',
          rows: 3000,
          columns: [
            { name: 'Project', type: 'categorical', values: { P17: 1 } },
            { name: 'Region', type: 'categorical', values: { N: 0.5, S: 0.5 } },
            { name: 'Region_Desc', type: 'categorical', values: { North: 0.5, South: 0.5 } },
            { name: 'score', type: 'numeric', distribution: 'normal', mean: 50, sd: 10, min: 0, max: 100, precision: 2 },
            { name: 'cohort', type: 'numeric', min: 2019, max: 2019 },
          ],
        },
      ],
    });
    const folder = await temporaryFolder('qa-bit-edge');
    const path = join(folder, 'pupils.csv');
    await writeTableFile(spec, 'pupils', path, { format: 'csv' });
    const files = bitLayoutFiles([{ name: 'Edge cases', qa: await analyseDataset(path, spec.tables[0]!, ',') }]);
    const pairs = files['corr_p_values.json'].edge_cases!;
    assert.deepEqual(pairs.find((row) => row.test === 'correlation'), { Comparison_column_1: 'score', Comparison_column_2: 'cohort', test: 'correlation' });
    const named = (rows: Row[]): string[] => [...new Set(rows.flatMap((row) => [row.Name, row.Comparison_column_1, row.Comparison_column_2].filter((name): name is string => typeof name === 'string')))];
    assert.deepEqual(named(files['categorical_metrics_comparison.json'].edge_cases!), ['Region']);
    assert.ok(!named(pairs).some((name) => name === 'Project' || name === 'Region_Desc'), named(pairs).join());
  });

  it('is an option of the qa stage: three files for the batch beside the summary and report, the default layout unchanged', async () => {
    const { folder, path } = await generatedFixture();
    const dataRoot = join(folder, 'root');
    await mkdir(join(dataRoot, 'raw'), { recursive: true });
    await copyFile(FIXTURE, join(dataRoot, 'raw', 'reading.json'));
    const context = (layout: 'bit' | 'per-dataset') =>
      ({
        request: {
          runId: `run-${layout}`,
          pipelineName: 'p',
          dataRoot,
          overwrite: false,
          upstream: { 'generate-synthetic': { ReadingBuddies_2019: { uri: pathToFileURL(path).href } } },
          stage: { stage: 'qa', spec: 'raw/reading.json', specFormat: 'auto', alpha: 0.05, layout },
        },
        dataRoot,
        logger: testLogger(),
        reportProgress: () => undefined,
      }) as unknown as Parameters<typeof qaImplementation.run>[0];
    const outputs = await qaImplementation.run(context('bit'));
    assert.deepEqual(Object.keys(outputs).sort(), ['categorical_metrics_comparison', 'corr_p_values', 'corr_p_values_WARNING_notes', 'numerical_metrics_comparison', 'report', 'summary']);
    const corr = JSON.parse(await readFile(join(dataRoot, 'qa', 'run-bit', 'corr_p_values.json'), 'utf8')) as Record<string, Row[]>;
    assert.deepEqual(Object.keys(corr), ['reading_buddies_2019']);
    const summary = JSON.parse(await readFile(join(dataRoot, 'qa', 'run-bit', 'summary.json'), 'utf8')) as { datasets: Array<{ name: string }> };
    assert.equal(summary.datasets[0]!.name, 'ReadingBuddies_2019');

    const perDataset = await qaImplementation.run(context('per-dataset'));
    assert.ok(perDataset.ReadingBuddies_2019, 'one folder per dataset by default');
    const defaultCorr = JSON.parse(await readFile(join(dataRoot, 'qa', 'run-per-dataset', 'ReadingBuddies_2019', 'corr_p_values.json'), 'utf8')) as Row[];
    assert.deepEqual(Object.keys(defaultCorr[0]!), ['Comparison_column_1', 'Comparison_column_2', 'p_value', 'test']);
    const hashed = (await qaImplementation.inputs(context('per-dataset'))) as { stage: Record<string, unknown> };
    assert.equal('layout' in hashed.stage, false, 'the default layout hashes as before the option existed');
  });

  it('is an option of the synth CLI, which also imports and generates a BIT file, printing its warnings', async () => {
    const folder = await temporaryFolder('qa-bit-cli');
    const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'client', 'synth-cli.ts'), ...args], { cwd: join(__dirname, '..') });
    const imported = await cli('import', FIXTURE, '-o', join(folder, 'native.yaml'));
    assert.match(imported.stderr, /warning: Column_details\[6\]\.standard_deviation: sd 14\.9 is larger/);
    await cli('generate', join(folder, 'native.yaml'), '-o', join(folder, 'out'), '--rows', '1500', '--format', 'tsv');
    const qa = await cli('qa', FIXTURE, join(folder, 'out', 'ReadingBuddies_2019.tsv'), '--layout', 'bit');
    const files = JSON.parse(qa.stdout) as Record<string, Record<string, Row[]>>;
    assert.deepEqual(Object.keys(files), ['numerical_metrics_comparison.json', 'categorical_metrics_comparison.json', 'corr_p_values.json']);
    assert.ok(files['corr_p_values.json']!.reading_buddies_2019!.length > 30);
    await assert.rejects(cli('qa', FIXTURE, join(folder, 'out', 'ReadingBuddies_2019.tsv'), '--layout', 'xml'), (err: { code?: number; stderr?: string }) => err.code === 2 && /--layout: "xml" is not one of per-dataset, bit/.test(err.stderr ?? ''));
  });
});

