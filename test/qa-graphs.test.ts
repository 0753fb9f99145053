import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { renderSvg, svgToPdf, svgToPng } from '../activities/charts/render';
import { BadInputError } from '../activities/errors';
import { summariseMessages, weekStart } from '../activities/graphs/analysis';
import { analysisGraphsImplementation } from '../activities/graphs/analysis-graphs';
import { analyseDataset } from '../activities/qa/dataset-qa';
import { writeTableFile } from '../activities/synth/generate';
import { parseSynthSpec } from '../activities/synth/spec';
import { temporaryFolder } from './helpers/environment';

const SPEC = parseSynthSpec({
  name: 'qa',
  seed: 12,
  tables: [
    {
      name: 'people',
      rows: 20_000,
      columns: [
        { name: 'id', type: 'id', format: { kind: 'uuid', prefix: '' }, primaryKey: true },
        { name: 'gender', type: 'categorical', values: { F: 0.6, M: 0.4 }, missing: 0.1 },
        { name: 'region', type: 'categorical', values: { N: 0.5, S: 0.3, E: 0.2 } },
        { name: 'age', type: 'numeric', kind: 'integer', min: 18, max: 80 },
        { name: 'score', type: 'numeric', distribution: 'normal', mean: 50, sd: 10, min: 0, max: 100, precision: 1, missing: 0.05 },
        { name: 'flat', type: 'numeric', min: 3, max: 3 },
        { name: 'double_score', type: 'derived', expression: 'score * 2' },
      ],
    },
  ],
});

describe('QA of a dataset', () => {
  it('compares spec and synthetic statistics, tests every pair, and lists what it could not test', async () => {
    const folder = await temporaryFolder('qa');
    const path = join(folder, 'people.csv');
    await writeTableFile(SPEC, 'people', path, { format: 'csv', commentLine: '{"Date generated": "2026-11-21"}' });
    const qa = await analyseDataset(path, SPEC.tables[0]!, ',');
    assert.equal(qa.rows, 20_000);
    const metric = (name: string, stat: string) => qa.numerical_metrics_comparison.find((m) => m.Name === name && m.stat === stat)!;
    assert.equal(metric('age', 'mean').expected, 49);
    assert.ok(Math.abs(metric('age', 'mean').value! - 49) < 0.5);
    assert.ok(Math.abs(metric('age', 'standard_deviation').value! - metric('age', 'standard_deviation').expected!) < 0.3);
    assert.equal(metric('age', 'min').value, 18);
    assert.equal(metric('age', 'max').value, 80);
    assert.ok(Math.abs(metric('score', 'missing_value_freq').value! - 0.05) < 0.006);
    const gender = qa.categorical_metrics_comparison.filter((m) => m.Name === 'gender');
    assert.deepEqual(gender.map((m) => m.Category_Option).sort(), ['F', 'M', 'nan']);
    assert.ok(Math.abs(gender.find((m) => m.Category_Option === 'F')!.proportion_original - 0.54) < 1e-12);
    assert.ok(qa.total_variation_distance.every((m) => m.total_variation_distance < 0.02));
    // Pairs: gender×region (chi-square), age×score, age×flat, score×flat (correlation), 2×3 ANOVAs.
    assert.deepEqual(qa.corr_p_values.map((p) => `${p.test}:${p.Comparison_column_1}:${p.Comparison_column_2}`).sort(), [
      'anova:gender:age', 'anova:gender:score', 'anova:region:age', 'anova:region:score', 'chi_square:gender:region', 'correlation:age:score',
    ]);
    assert.ok(qa.corr_p_values.every((p) => p.p_value >= 0 && p.p_value <= 1));
    const reasons = qa.warnings.map((w) => `${w.Name ?? `${w.Comparison_column_1}×${w.Comparison_column_2}`}: ${w.reason}`);
    for (const expected of [/^id: not compared: an identifier/, /^double_score: not compared: derived/, /^age×flat: a column is constant/, /^score×flat: a column is constant/, /^gender×flat: the numeric column is constant/, /^region×flat: the numeric column is constant/]) {
      assert.ok(reasons.some((reason) => expected.test(reason)), `${expected} in ${reasons.join(' | ')}`);
    }
  });
});

describe('analysis graphs', () => {
  it('counts messages and unique participants per week and codes per scheme', async () => {
    const folder = await temporaryFolder('graphs');
    const path = join(folder, 'messages.csv');
    await writeFile(
      path,
      [
        'received_at,participant,theme',
        '2026-10-05T08:00:00Z,a,water',
        '2026-10-06T09:00:00Z,a,health',
        '2026-10-11T23:59:59Z,b,',
        '2026-10-12T00:00:00Z,b,water',
        'not a date,c,water',
      ].join('\n'),
    );
    const summary = await summariseMessages(path, ',', { timestampColumn: 'received_at', participantColumn: 'participant', period: 'week', codeSchemes: ['theme'] });
    assert.deepEqual(summary.perPeriod, [
      { period: '2026-10-05', messages: 3, participants: 2 },
      { period: '2026-10-12', messages: 1, participants: 1 },
    ]);
    assert.deepEqual(summary.codes[0]!.counts.map((c) => [c.code, c.messages]), [['health', 1], ['water', 2], ['NC', 1]]); // control codes after the others
    assert.deepEqual(summary.skipped, { rows: 1, reason: 'timestamp not a date' });
    assert.equal(weekStart(Date.UTC(2024, 1, 29)), '2024-02-26');
  });

  it('rejects a missing input or column as bad input, naming the field', async () => {
    const folder = await temporaryFolder('graphs-bad');
    await writeFile(join(folder, 'messages.csv'), 'received_at,participant\n2026-10-05T08:00:00Z,a\n');
    const context = (input: string | { stage: 'generate-synthetic'; table: string }) =>
      ({
        request: { runId: 'r', pipelineName: 'p', dataRoot: folder, overwrite: false, upstream: {}, stage: { stage: 'analysis-graphs', input, timestampColumn: 'received_at', participantColumn: 'participant', period: 'week', codeSchemes: ['theme'], formats: ['svg'] } },
        dataRoot: folder,
      }) as unknown as Parameters<typeof analysisGraphsImplementation.inputs>[0];
    await assert.rejects(analysisGraphsImplementation.inputs(context('raw/nope.csv')), (err: unknown) => err instanceof BadInputError && /^input: raw\/nope\.csv does not exist/.test(err.message));
    await assert.rejects(analysisGraphsImplementation.inputs(context({ stage: 'generate-synthetic', table: 'messages' })), (err: unknown) => err instanceof BadInputError && /^input: no generate-synthetic stage/.test(err.message));
    await assert.rejects(
      summariseMessages(join(folder, 'messages.csv'), ',', { timestampColumn: 'received_at', participantColumn: 'participant', period: 'week', codeSchemes: ['theme'] }),
      (err: unknown) => err instanceof BadInputError && /^codeSchemes\[0\]: .* has no column "theme"/.test(err.message),
    );
  });

  it('renders charts to valid SVG, PNG and PDF with their text', async () => {
    const svg = await renderSvg({ title: 'Messages per week', data: { values: [{ week: 'w1', n: 3 }, { week: 'w2', n: 5 }] }, mark: 'bar', encoding: { x: { field: 'week', type: 'ordinal', title: 'Week' }, y: { field: 'n', type: 'quantitative', title: 'Messages' } } });
    assert.match(svg, /^<svg[^>]+xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /Messages per week/);
    const png = await svgToPng(svg);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(png.readUInt32BE(16) > 100 && png.readUInt32BE(20) > 100, 'PNG width and height');
    const pdf = await svgToPdf(svg, new Date('2026-11-02T06:00:00Z'));
    assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
    assert.ok(pdf.equals(await svgToPdf(svg, new Date('2026-11-02T06:00:00Z'))), 'the same chart at the same time is the same bytes');
    assert.ok(!pdf.equals(await svgToPdf(svg, new Date('2026-11-09T06:00:00Z'))), 'its creation date is in it');
    assert.match(pdf.subarray(-6).toString(), /%%EOF/);
    const folder = await temporaryFolder('render');
    await writeFile(join(folder, 'chart.pdf'), pdf);
    assert.ok((await readFile(join(folder, 'chart.pdf'))).length > 1000);
  });
});
