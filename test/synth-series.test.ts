import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { parse } from 'csv-parse/sync';

import { BadInputError } from '../activities/errors';
import { type GenerateSeriesConfig, loadSeries, preflightGenerateSeries } from '../activities/synth/generate-series';
import { generateSeriesPeriod, planSeries, type SeriesOptions, shiftDate } from '../activities/synth/series';
import { parsePipelineConfig } from '../config/pipeline-config';
import { temporaryFolder } from './helpers/environment';
import { allFiles } from './helpers/sources';
import { CLINIC_SPEC } from './helpers/synth';

const SPEC = CLINIC_SPEC;

const OPTIONS: SeriesOptions = {
  series: 'monthly',
  periodUnit: 'months',
  periodLength: 1,
  periods: 4,
  newFraction: 1 / 3,
  dateColumns: ['visit_date'],
  staticColumns: ['gender', 'birth_year'],
  format: 'csv',
};

type Row = Record<string, string>;
const readCsv = async (path: string): Promise<Row[]> => parse(await readFile(path, 'utf8'), { columns: true }) as Row[];

async function generateSeries(folder: string, options = OPTIONS, periods = [1, 2, 3, 4]) {
  const plan = planSeries(SPEC, options);
  const results = [];
  for (const period of periods) results.push(await generateSeriesPeriod(plan, period, { seriesFolder: folder }, 'base-hash'));
  return results;
}

describe('date shifting', () => {
  it('shifts by calendar months clamped to the month end, across leap years, and by days and weeks', () => {
    assert.equal(shiftDate('2024-01-31', 'months', 1), '2024-02-29');
    assert.equal(shiftDate('2023-01-31', 'months', 1), '2023-02-28');
    assert.equal(shiftDate('2024-02-29', 'months', 12), '2025-02-28');
    assert.equal(shiftDate('2024-03-31', 'months', -1), '2024-02-29');
    assert.equal(shiftDate('2024-12-15', 'months', 2), '2025-02-15');
    assert.equal(shiftDate('2024-02-28', 'days', 1), '2024-02-29');
    assert.equal(shiftDate('2023-02-28', 'days', 1), '2023-03-01');
    assert.equal(shiftDate('2024-02-26', 'weeks', 1), '2024-03-04');
    assert.equal(shiftDate('2024-01-31T10:30:00', 'months', 1), '2024-02-29T10:30:00');
  });
});

describe('synthetic series', () => {
  it('keeps returning entities continuous: ids and static columns equal the reference table', async () => {
    const folder = await temporaryFolder('series');
    const results = await generateSeries(folder);
    const reference = new Map<string, Row>();
    for (const result of results) {
      const rows = await readCsv(result.dataset);
      assert.equal(rows.length, 1000);
      const returning = rows.filter((row) => reference.has(row.patient_id!));
      const fresh = rows.filter((row) => !reference.has(row.patient_id!));
      assert.equal(returning.length, result.period === 1 ? 0 : 1000 - Math.round(1000 / 3), `period ${result.period} returning`);
      assert.equal(fresh.length, result.newRows);
      for (const row of returning) {
        const known = reference.get(row.patient_id!)!;
        assert.equal(row.gender, known.gender);
        assert.equal(row.birth_year, known.birth_year);
        assert.equal(row.age_at_visit, '', 'derived from a static column: not applied to returning entities');
        assert.notEqual(row.weight_lb, '', 'derived from regenerated columns: applied');
      }
      assert.equal(new Set(rows.map((row) => row.patient_id)).size, 1000, 'no entity twice in a period');
      // The segment of this period lists exactly its new entities.
      const segment = await readCsv(result.reference);
      assert.deepEqual(segment.map((row) => row.patient_id).sort(), fresh.map((row) => row.patient_id).sort());
      for (const row of segment) reference.set(row.patient_id!, row);
    }
    assert.equal(reference.size, 1000 + 3 * 333);
  });

  it('shifts date columns by (k−1) × length × unit', async () => {
    const folder = await temporaryFolder('series-dates');
    const results = await generateSeries(folder);
    const ranges: Record<number, [string, string]> = { 1: ['2024-01-31', '2024-02-29'], 2: ['2024-02-29', '2024-03-29'], 3: ['2024-03-31', '2024-04-29'], 4: ['2024-04-30', '2024-05-29'] };
    for (const result of results) {
      const dates = (await readCsv(result.dataset)).map((row) => row.visit_date!);
      const [from, to] = ranges[result.period]!;
      assert.ok(dates.every((date) => date >= from && date <= to), `period ${result.period}: ${dates.find((d) => d < from || d > to)}`);
    }
  });

  it('is deterministic, and extending a series later continues it exactly', async () => {
    const a = await temporaryFolder('series-a');
    const b = await temporaryFolder('series-b');
    await generateSeries(a);
    await generateSeries(b, { ...OPTIONS, periods: 2 }, [1, 2]);
    await generateSeries(b, OPTIONS, [3, 4]); // a weekly schedule adding periods to a stored series
    for (const period of [1, 2, 3, 4]) {
      for (const file of [`period-${period}/dataset_${period}.csv`, `reference/period-${period}.csv`, `period-${period}/spec_${period}.json`]) {
        assert.equal(await readFile(join(b, file), 'utf8'), await readFile(join(a, file), 'utf8'), file);
      }
    }
  });

  it('resumes a failed period without redoing the others, and never overwrites a finished one', async () => {
    const clean = await temporaryFolder('series-clean');
    await generateSeries(clean);
    const folder = await temporaryFolder('series-resume');
    const plan = planSeries(SPEC, OPTIONS);
    await generateSeriesPeriod(plan, 1, { seriesFolder: folder }, 'base-hash');
    // Period 2 "crashes": as if the worker died before writing anything of it.
    await assert.rejects(generateSeriesPeriod(plan, 3, { seriesFolder: folder }, 'base-hash'), /needs the reference table of period 2/);
    const second = await generateSeriesPeriod(plan, 2, { seriesFolder: folder }, 'base-hash');
    assert.equal(second.reused, false);
    const again = await generateSeriesPeriod(plan, 2, { seriesFolder: folder }, 'base-hash');
    assert.equal(again.reused, true);
    await generateSeriesPeriod(plan, 3, { seriesFolder: folder }, 'base-hash');
    assert.equal(await readFile(join(folder, 'period-3', 'dataset_3.csv'), 'utf8'), await readFile(join(clean, 'period-3', 'dataset_3.csv'), 'utf8'));
    await assert.rejects(generateSeriesPeriod(plan, 2, { seriesFolder: folder }, 'other-inputs'), /already exists with other inputs/);
  });

  it("counts a period an earlier attempt of the same run finished as that run's, and one by another run as reused", async () => {
    const folder = await temporaryFolder('series-attempts');
    const plan = planSeries(SPEC, OPTIONS);
    const first = await generateSeriesPeriod(plan, 1, { seriesFolder: folder }, 'base-hash', undefined, undefined, 'run-a');
    const bytes = await readFile(join(folder, 'period-1', 'dataset_1.csv'));
    // A retry of run-a's attempt (killed after its work, before its result reached the server).
    const retried = await generateSeriesPeriod(plan, 1, { seriesFolder: folder }, 'base-hash', undefined, undefined, 'run-a');
    const later = await generateSeriesPeriod(plan, 1, { seriesFolder: folder }, 'base-hash', undefined, undefined, 'run-b');
    assert.deepEqual([first.reused, retried.reused, later.reused], [false, false, true]);
    assert.deepEqual(await readFile(join(folder, 'period-1', 'dataset_1.csv')), bytes, 'the retry rewrote nothing');
  });

  it('rejects bad series settings before any write, naming the field', () => {
    const cases: Array<[Partial<SeriesOptions>, RegExp]> = [
      [{ newFraction: 0 }, /newFraction: 0 is outside \(0, 1\]/],
      [{ newFraction: 1.5 }, /newFraction: 1\.5 is outside/],
      [{ periods: 0 }, /periods: 0; a series has at least one period/],
      [{ staticColumns: ['gender', 'blood_type'] }, /staticColumns\[1\]: no column "blood_type"/],
      [{ dateColumns: ['weight'] }, /dateColumns\[0\]: "weight" is a numeric column, not a date column/],
      [{ dateColumns: ['nope'] }, /dateColumns\[0\]: no column "nope"/],
      [{ periodUnit: 'fortnights' as 'days' }, /periodUnit: "fortnights" is not one of days, weeks, months/],
      [{ idColumns: ['gender'] }, /idColumns\[0\]: "gender" is not an id column/],
    ];
    for (const [change, expected] of cases) {
      assert.throws(() => planSeries(SPEC, { ...OPTIONS, ...change }), (err: unknown) => err instanceof BadInputError && expected.test(err.message), JSON.stringify(change));
    }
  });
});

describe('series size guards', () => {
  /** A data root holding only the series' spec, and the stage config parsed as a run config's. */
  async function seriesRoot(label: string, table: Record<string, unknown>, options: Record<string, unknown>) {
    const dataRoot = await temporaryFolder(label);
    await mkdir(join(dataRoot, 'raw'), { recursive: true });
    await writeFile(join(dataRoot, 'raw', 'spec.json'), JSON.stringify({ name: 'big', seed: 1, tables: [table] }));
    const stage = parsePipelineConfig({
      pipelineName: 'guards',
      dataRoot: 'guards',
      stages: [{ stage: 'generate-series', spec: 'raw/spec.json', series: 'weekly', periodUnit: 'weeks', newFraction: 0.5, ...options }],
    }).stages[0] as GenerateSeriesConfig;
    return { dataRoot, stage };
  }
  const refusal = (pattern: RegExp) => (err: unknown) => err instanceof BadInputError && pattern.test(err.message);
  const idColumn = { name: 'id', type: 'id', format: { kind: 'uuid', prefix: 'e-' }, primaryKey: true };

  it('refuses more rows than maxRows (periods × rows, default 100 million) before anything is written, with the figure and the limit', async () => {
    const { dataRoot, stage } = await seriesRoot('series-max-rows', { name: 'people', rows: 1_000_000, columns: [idColumn] }, { periods: 101 });
    assert.equal(stage.maxRows, 100_000_000, 'the same default as generate-synthetic');
    const before = await allFiles(dataRoot);
    await assert.rejects(
      preflightGenerateSeries({ dataRoot, stage }),
      refusal(/^maxRows: the series' 101 periods of 1000000 rows hold 101000000 rows, more than the limit of 100000000 \(raise maxRows to allow it\)$/),
    );
    // The same series within a raised limit passes the row guard (and is then sized in bytes).
    await preflightGenerateSeries({ dataRoot, stage: { ...stage, maxRows: 101_000_000 } });
    assert.deepEqual(await allFiles(dataRoot), before, 'nothing written');
  });

  it('refuses more estimated bytes than maxBytes, and more than the disk has free, before anything is written', async () => {
    const { dataRoot, stage } = await seriesRoot('series-max-bytes', { name: 'people', rows: 10_000, columns: [idColumn, { name: 'age', type: 'numeric', kind: 'integer', min: 18, max: 90 }] }, { periods: 4, maxBytes: 100_000 });
    const before = await allFiles(dataRoot);
    await assert.rejects(
      preflightGenerateSeries({ dataRoot, stage }),
      refusal(/^maxBytes: the series' 4 periods would take about \d{6,} bytes \(datasets and reference table\), more than the limit of 100000 \(raise maxBytes to allow it\)$/),
    );
    // Rows of a kilobyte each, 10 billion of them (the most maxRows allows): about 10 TB, more than any test disk has.
    const wide = await seriesRoot(
      'series-free-disk',
      { name: 'people', rows: 100_000_000, columns: [idColumn, { name: 'note', type: 'categorical', values: { ['x'.repeat(1000)]: 1 } }] },
      { periods: 100, newFraction: 0.01, maxRows: 10 ** 10, maxBytes: 10 ** 15 },
    );
    const wideBefore = await allFiles(wide.dataRoot);
    await assert.rejects(
      preflightGenerateSeries(wide),
      refusal(/^the periods of series "weekly" still to generate would take about \d{13,} bytes, and the disk of .+ has \d+ bytes free$/),
    );
    assert.deepEqual(await allFiles(dataRoot), before, 'nothing written');
    assert.deepEqual(await allFiles(wide.dataRoot), wideBefore, 'nothing written');
  });

  it('leaves the limits out of the inputs hash, so a series begun before them is extended, not refused as changed', async () => {
    const { dataRoot, stage } = await seriesRoot('series-limits-hash', { name: 'people', rows: 100, columns: [idColumn] }, { periods: 2 });
    const { maxRows: _rows, maxBytes: _bytes, ...withoutLimits } = stage;
    const [withLimits, older] = await Promise.all([loadSeries(dataRoot, stage), loadSeries(dataRoot, withoutLimits as GenerateSeriesConfig)]);
    assert.equal(withLimits.baseInputsHash, older.baseInputsHash);
  });
});
