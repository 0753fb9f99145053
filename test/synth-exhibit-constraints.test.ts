import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { BadInputError } from '../activities/errors';
import { importExhibitSpec } from '../activities/synth/importers/exhibit';
import { loadSynthSpec } from '../activities/synth/load-spec';
import { planSeries, type SeriesOptions } from '../activities/synth/series';
import { parseSynthSpec, SpecError } from '../activities/synth/spec';
import { tableRecords, tableText } from './helpers/synth';

const FIXTURES = join(__dirname, 'fixtures', 'exhibit');
type Row = Record<string, string>;

/** Rows grouped by the values of `columns`, each group in file order. */
function groupBy(rows: Row[], ...columns: string[]): Row[][] {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = columns.map((column) => row[column]).join('\u0000');
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return [...groups.values()];
}

const SERIES: SeriesOptions = { series: 's', periodUnit: 'months', periodLength: 1, periods: 2, newFraction: 0.5, dateColumns: [], staticColumns: [], format: 'csv' };

describe('exhibit custom_constraints (uuid_demo-like)', async () => {
  const warnings: string[] = [];
  const { spec } = await loadSynthSpec(join(FIXTURES, 'doses.yml'), 'auto', { warnings });
  const table = spec.tables[0]!;
  const text = tableText(spec, table.name);
  const rows = tableRecords(spec, table.name);

  it('imports partition, targets and filters as native customConstraints', () => {
    assert.equal(rows.length, 6000);
    assert.deepEqual(table.customConstraints?.[0], {
      name: 'multi_dose',
      partition: ['record_chi'],
      targets: [
        { columns: ['dose_number'], action: 'generate-as-sequence' },
        { columns: ['vacc_date', 'dose_number'], action: 'sort-ascending' },
        { columns: ['sex'], action: 'make-same' },
      ],
    });
    assert.equal(table.customConstraints?.[1]?.filter, "(site == 'north')  and  (`wait_days` > 5)");
    assert.deepEqual(table.customConstraints?.[1]?.partition, ['sex', 'dose_number']);
  });

  it("repeats record ids exactly as exhibit's frequency_distribution says: 50 % of rows once, 30 % twice, 20 % three times", () => {
    const records = groupBy(rows, 'record_chi');
    const share = (size: number): number => records.filter((record) => record.length === size).length * size / rows.length;
    assert.deepEqual([share(1), share(2), share(3)], [0.5, 0.3, 0.2]);
    assert.ok(rows.every((row) => /^[0-9a-f]{32}$/.test(row.record_chi!)));
    assert.ok(!warnings.some((w) => /Poisson/.test(w)), warnings.join(' | '));
    assert.throws(() => planSeries(spec, SERIES), (err: unknown) => err instanceof BadInputError && /ids repeating exactly \(record_chi/.test(err.message));
    const column = { name: 'r', type: 'id', format: { kind: 'uuid' }, primaryKey: true, frequencies: { 1: 0.5, 2: 0.5 } };
    assert.throws(() => parseSynthSpec({ name: 'f', tables: [{ name: 't', rows: 10, columns: [column] }] }), /tables\[0\]\.columns\[0\]\.frequencies: a primary key appears once per row/);
  });

  it("numbers each record's doses 1..n in row order, with dates ascending and one sex per record", () => {
    const records = groupBy(rows, 'record_chi');
    assert.ok(records.filter((record) => record.length === 3).length > 100, 'records with several doses');
    for (const record of records) {
      // Equal probabilities: the values in order (then blanks, were a record longer than the sequence).
      assert.deepEqual(record.map((row) => row.dose_number), record.map((_, i) => `dose_${i + 1}`), record[0]!.record_chi);
      const dates = record.map((row) => row.vacc_date!);
      assert.deepEqual(dates, [...dates].sort(), record[0]!.record_chi);
      assert.equal(new Set(record.map((row) => row.sex)).size, 1, record[0]!.record_chi);
    }
  });

  it('recomputes the numbers weighted by a constrained column from its new values', () => {
    // dose_cost is weighted by dose_number (0.1 / 0.3 / 0.6, no dispersion) and no constraint targets it:
    // drawn from the doses before the sequence was imposed, it would not follow the final doses.
    const costs = new Map(rows.map((row) => [row.dose_number, new Set<string>()]));
    for (const row of rows) costs.get(row.dose_number)!.add(row.dose_cost!);
    assert.deepEqual([...costs].sort(), [['dose_1', new Set(['10'])], ['dose_2', new Set(['46'])], ['dose_3', new Set(['100'])]]);
  });

  it('applies a filter with a partition: distinct batches and wait_days descending within each (sex, dose) of the north rows', () => {
    const north = rows.filter((row) => row.site === 'north' && Number(row.wait_days) > 5);
    assert.ok(north.length > 1000);
    for (const group of groupBy(north, 'sex', 'dose_number')) {
      const batches = group.map((row) => row.batch).filter((batch) => batch !== '');
      assert.equal(new Set(batches).size, batches.length);
      assert.ok(group.length > batches.length, 'duplicates were blanked');
      const waits = group.map((row) => Number(row.wait_days));
      assert.deepEqual(waits, [...waits].sort((a, b) => b - a));
    }
    assert.ok(rows.some((row) => row.site === 'north' && Number(row.wait_days) <= 5 && row.batch !== ''), 'rows outside the filter keep their batch');
  });

  it('assigns a value and makes outliers of the filtered rows, the column scaled back to its range', () => {
    const south = rows.filter((row) => row.site === 'south');
    const others = rows.filter((row) => row.site !== 'south');
    assert.ok(south.every((row) => row.batch === 'b9'));
    assert.ok(others.every((row) => row.batch !== 'b9'));
    const scores = rows.map((row) => Number(row.risk_score));
    assert.ok(Math.min(...scores) >= 10 && Math.max(...scores) <= 100);
    const low = Math.min(...others.map((row) => Number(row.risk_score)));
    const high = Math.max(...others.map((row) => Number(row.risk_score)));
    assert.ok(south.every((row) => Number(row.risk_score) > high || Number(row.risk_score) < low), 'each south score lies beyond the others');
  });

  it('is deterministic and generated whole: no row ranges, one piece in a series neither', () => {
    assert.equal(tableText(spec, table.name), text);
    assert.throws(() => tableText(spec, table.name, 'csv', { start: 0, end: 100 }), /custom constraints, so it is generated whole/);
    assert.throws(() => planSeries(spec, SERIES), (err: unknown) => err instanceof BadInputError && /has custom constraints/.test(err.message));
  });
});

describe('native customConstraints', () => {
  const columns = [
    { name: 'person', type: 'grouped-id', format: { kind: 'digits', minLength: 4, maxLength: 4 }, groupSize: 60 },
    { name: 'step', type: 'categorical', values: { a: 0.5, b: 0.3, c: 0.2 } },
    { name: 'level', type: 'categorical', values: { low: 0.4, mid: 0.4, high: 0.2 } },
    { name: 'day', type: 'date', from: '2021-01-01', to: '2021-12-31', format: '%d/%m/%Y' },
    { name: 'note', type: 'categorical', values: { x: 0.5, y: 0.5 } },
  ];
  const spec = (targets: unknown[], extra: Record<string, unknown> = {}) =>
    parseSynthSpec({ name: 'n', seed: 2, tables: [{ name: 't', rows: 600, columns, customConstraints: [{ partition: ['person'], targets, ...extra }] }] });

  it('walks a sequence with unequal probabilities (the first value always, the rest in order), or repeats it', () => {
    const walked = groupBy(tableRecords(spec([{ columns: ['step'], action: 'generate-as-sequence' }]), 't'), 'person');
    const order = ['a', 'b', 'c'];
    for (const group of walked) {
      const steps = group.map((row) => order.indexOf(row.step!));
      assert.equal(steps[0], 0);
      assert.deepEqual(steps, [...steps].sort((x, y) => x - y));
    }
    assert.ok(walked.some((group) => group.some((row) => row.step === 'c')));
    for (const group of groupBy(tableRecords(spec([{ columns: ['step'], action: 'generate-as-repeating-sequence' }]), 't'), 'person')) {
      assert.deepEqual(group.map((row) => row.step), group.map((_, i) => order[i % 3]));
    }
  });

  it('sorts dates by time whatever their format, descending too', () => {
    for (const group of groupBy(tableRecords(spec([{ columns: ['day'], action: 'sort-descending' }]), 't'), 'person')) {
      const times = group.map((row) => {
        const [d, m, y] = row.day!.split('/').map(Number);
        return Date.UTC(y!, m! - 1, d!);
      });
      assert.deepEqual(times, [...times].sort((a, b) => b - a));
    }
  });

  it('makes values almost the same (the smallest value in about 95 % of rows), or blanks them', () => {
    const rows = tableRecords(spec([{ columns: ['level'], action: 'make-almost-same' }, { columns: ['note'], action: 'make-null' }]), 't');
    let smallest = 0;
    for (const group of groupBy(rows, 'person')) {
      const values = [...new Set(group.map((row) => row.level))].sort();
      assert.ok(values.length <= 2);
      smallest += group.filter((row) => row.level === values[0]).length;
    }
    assert.ok(smallest / rows.length > 0.9 && smallest < rows.length, String(smallest / rows.length));
    assert.ok(rows.every((row) => row.note === ''));
  });

  it('names the path of every bad constraint', () => {
    const problems = (targets: unknown[], extra: Record<string, unknown> = {}): string => {
      try {
        spec(targets, extra);
      } catch (err) {
        assert.ok(err instanceof SpecError);
        return err.message;
      }
      assert.fail('no error');
    };
    assert.match(problems([{ columns: ['nope'], action: 'make-same' }]), /tables\[0\]\.customConstraints\[0\]\.targets\[0\]\.columns\[0\]: no column "nope"/);
    assert.match(problems([{ columns: ['day'], action: 'generate-as-sequence' }]), /targets\[0\]\.columns\[0\]: generate-as-sequence needs a categorical column/);
    assert.match(problems([{ columns: ['step'], action: 'assign-value' }]), /targets\[0\]\.value: assign-value needs a value/);
    assert.match(problems([{ columns: ['step'], action: 'sort_and_skew_left' }]), /customConstraints\[0\]\.targets\[0\]\.action/);
    assert.match(problems([{ columns: ['step'], action: 'make-same' }], { filter: 'missing_column > 2' }), /customConstraints\[0\]\.filter: unknown column "missing_column"/);
    assert.match(problems([{ columns: ['step'], action: 'make-same' }], { partition: ['ghost'] }), /customConstraints\[0\]\.partition\[0\]: no column "ghost"/);
  });
});

describe('exhibit actions that are not supported', () => {
  const base = {
    metadata: { number_of_rows: 100, categorical_columns: ['a'], numerical_columns: ['n'], random_seed: 0, id: 'x' },
    columns: {
      a: { type: 'categorical', original_values: ['a | probability_vector', 'p | 0.5', 'q | 0.5', 'Missing data | 0'], miss_probability: 0 },
      n: { type: 'continuous', precision: 'integer', distribution: 'weighted_uniform', distribution_parameters: { target_min: 1, target_max: 9 } },
    },
  };
  const importWith = (custom: unknown) => () => importExhibitSpec({ ...base, constraints: { custom_constraints: custom } });

  it('are errors naming the constraint, the target and the action', () => {
    assert.throws(importWith({ skewed: { targets: { 'a, n': 'sort_and_skew_left' } } }), /constraints\.custom_constraints\.skewed\.targets\.a, n: action "sort_and_skew_left" is not supported/);
    assert.throws(importWith({ s: { targets: { n: 'shift_distribution_right' } } }), /custom_constraints\.s\.targets\.n: action "shift_distribution_right" is not supported/);
    assert.throws(importWith({ s: { targets: { a: 'make_not_null' } } }), /custom_constraints\.s\.targets\.a: action "make_not_null" is not supported/);
    assert.throws(importWith({ s: { targets: { a: 'shuffle' } } }), /custom_constraints\.s\.targets\.a: "shuffle" is not an exhibit action/);
    assert.throws(importWith({ s: { filter: 'a with_high_frequency', targets: { a: 'make_same' } } }), /custom_constraints\.s\.filter: .*with_high_frequency/);
    assert.throws(importWith({ s: { targets: { a: 'assign_value' } } }), /custom_constraints\.s\.targets\.a: assign_value needs its value/);
    assert.throws(importWith({ s: { targets: { n: 'generate_as_sequence' } } }), /targets\[0\]\.columns\[0\]: generate-as-sequence needs a categorical column .*"n" is numeric/);
  });

  it('accepts several actions on one target, in order', () => {
    const spec = importWith({ s: { filter: "a == 'p'", targets: { n: 'sort_descending, make_outlier' } } })();
    assert.deepEqual(spec.tables[0]!.customConstraints, [{ name: 's', filter: "a == 'p'", targets: [{ columns: ['n'], action: 'sort-descending' }, { columns: ['n'], action: 'make-outlier' }] }]);
  });
});

describe('cross_join_all_unique_values', async () => {
  const warnings: string[] = [];
  const { spec } = await loadSynthSpec(join(FIXTURES, 'complete.yml'), 'auto', { warnings });
  const rows = tableRecords(spec, spec.tables[0]!.name);

  it('makes rows / K × K rows, as exhibit does, with a warning', () => {
    assert.equal(rows.length, 984);
    assert.ok(warnings.some((w) => /metadata\.number_of_rows: 1000 is not a multiple of the 24 combinations.*984 rows \(41 × 24\)/.test(w)), warnings.join(' | '));
  });

  it('has every region with every quarter equally often, whatever the probabilities', () => {
    const counts = new Map<string, number>();
    for (const row of rows) counts.set(`${row.region} ${row.quarter}`, (counts.get(`${row.region} ${row.quarter}`) ?? 0) + 1);
    assert.equal(counts.size, 24);
    assert.deepEqual(new Set(counts.values()), new Set([41]));
    assert.deepEqual(new Set(rows.map((row) => row.quarter)).size, 8);
  });

  it('draws the other categorical columns once per core row, as exhibit joins them, and numbers per row', () => {
    for (let block = 0; block < 41; block++) {
      const core = rows.slice(block * 24, block * 24 + 24);
      assert.equal(new Set(core.map((row) => row.sex)).size, 1);
    }
    assert.ok(new Set(rows.map((row) => row.sex)).size === 2);
    assert.ok(new Set(rows.slice(0, 24).map((row) => row.cases)).size > 5);
  });

  it('natively: balanced within one when rows are not a multiple, row ranges as before, errors naming the path', () => {
    const columns = [
      { name: 'g', type: 'categorical', values: { u: 0.99, v: 0.01, w: 0 }, crossJoin: true },
      { name: 'd', type: 'date', from: '2024-01-01', to: '2024-01-05', crossJoin: true },
      { name: 'k', type: 'categorical', values: { x: 0.5, y: 0.5 }, missing: 0.1 },
    ];
    const native = parseSynthSpec({ name: 'c', seed: 1, tables: [{ name: 't', rows: 100, columns }] });
    const counts = new Map<string, number>();
    for (const row of tableRecords(native, 't')) counts.set(`${row.g} ${row.d}`, (counts.get(`${row.g} ${row.d}`) ?? 0) + 1);
    assert.equal(counts.size, 15);
    assert.ok(Math.max(...counts.values()) - Math.min(...counts.values()) <= 1);
    const whole = tableText(native, 't');
    assert.equal(tableText(native, 't', 'csv', { end: 37 }) + tableText(native, 't', 'csv', { start: 37, header: false }), whole);
    assert.throws(() => parseSynthSpec({ name: 'c', tables: [{ name: 't', rows: 10, columns }] }), /tables\[0\]\.rows: 10 rows are fewer than the 15 combinations of the cross-joined columns \(g 3 × d 5\)/);
    assert.throws(() => planSeries(native, SERIES), (err: unknown) => err instanceof BadInputError && /cross-joins g, d/.test(err.message));
  });
});
