import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import { BLOCK_ROWS } from '../activities/synth/generate';
import { parseSynthSpec, SpecError, type SynthSpec } from '../activities/synth/spec';
import { column, meanAndSd, proportions, tableRecords, tableText } from './helpers/synth';

const run = promisify(execFile);

function spec(tables: unknown[], seed = 7): SynthSpec {
  return parseSynthSpec({ name: 'test', seed, tables });
}

describe('synthetic data: distributions (fixed seeds)', () => {
  const rows = 100_000;
  const survey = spec([
    {
      name: 'people',
      rows,
      columns: [
        { name: 'gender', type: 'categorical', values: { F: 0.5, M: 0.3, X: 0.2 }, missing: 0.05 },
        { name: 'score', type: 'numeric', distribution: 'normal', mean: 50, sd: 10, min: 0, max: 100, precision: 2 },
        { name: 'tight', type: 'numeric', distribution: 'normal', mean: 50, sd: 10, min: 45, max: 55, missing: 0.1 },
        { name: 'die', type: 'numeric', kind: 'integer', min: 1, max: 6 },
        { name: 'ratio', type: 'numeric', min: -1, max: 1, precision: 3 },
        { name: 'score_pct', type: 'derived', expression: 'round(score / 100, 4)' },
        { name: 'band', type: 'derived', expression: "if(score >= 50, 'high', 'low')" },
      ],
    },
  ]);
  const records = tableRecords(survey, 'people');

  it('draws categories with their probabilities (±0.01) and leaves the missing share empty (±0.005)', () => {
    const shares = proportions(column(records, 'gender'));
    assert.ok(Math.abs((shares.get('') ?? 0) - 0.05) < 0.005, `missing ${shares.get('')}`);
    const present = 1 - (shares.get('') ?? 0);
    for (const [value, p] of [['F', 0.5], ['M', 0.3], ['X', 0.2]] as const) {
      assert.ok(Math.abs((shares.get(value) ?? 0) / present - p) < 0.01, `${value}: ${(shares.get(value) ?? 0) / present}`);
    }
  });

  it('gives a normal column its mean and sd (±0.2) and keeps every value within bounds', () => {
    const scores = column(records, 'score').map(Number);
    const { mean, sd } = meanAndSd(scores);
    assert.ok(Math.abs(mean - 50) < 0.2, `mean ${mean}`);
    assert.ok(Math.abs(sd - 10) < 0.2, `sd ${sd}`);
    assert.ok(column(records, 'score').every((text) => /^\d+\.\d{2}$/.test(text)), 'two decimals');
    const tight = column(records, 'tight').filter(Boolean).map(Number);
    assert.ok(tight.every((value) => value >= 45 && value <= 55));
    assert.ok(Math.abs(1 - tight.length / rows - 0.1) < 0.005, 'missing fraction of tight');
  });

  it('draws integers uniformly over the inclusive range and floats within it', () => {
    const shares = proportions(column(records, 'die'));
    assert.deepEqual([...shares.keys()].sort(), ['1', '2', '3', '4', '5', '6']);
    for (const share of shares.values()) assert.ok(Math.abs(share - 1 / 6) < 0.01);
    const ratios = column(records, 'ratio').map(Number);
    assert.ok(ratios.every((value) => value >= -1 && value <= 1));
    assert.ok(Math.abs(meanAndSd(ratios).mean) < 0.01);
  });

  it('computes derived columns from the same row', () => {
    for (const record of records.slice(0, 1000)) {
      assert.equal(Number(record.score_pct), Math.round((Number(record.score) / 100) * 10_000) / 10_000);
      assert.equal(record.band, Number(record.score) >= 50 ? 'high' : 'low');
    }
  });
});

describe('synthetic data: keys, groups, pairs, dates, text', () => {
  it('gives primary keys unique values and foreign keys only existing ones, across circular references', () => {
    // Seed 001's example: employees have a manager, managers are employees.
    const company = spec([
      {
        name: 'Employee',
        rows: 50_000,
        columns: [
          { name: 'id', type: 'id', format: { kind: 'digits', minLength: 5, maxLength: 6 }, primaryKey: true },
          { name: 'manager', type: 'foreign-key', references: 'Manager.id' },
          { name: 'hire_date', type: 'date', from: '2021-01-18', to: '2024-12-31' },
        ],
      },
      {
        name: 'Manager',
        rows: 2_000,
        columns: [
          { name: 'id', type: 'id', format: { kind: 'uuid', prefix: 'mgr-' }, primaryKey: true },
          { name: 'employee_id', type: 'foreign-key', references: 'Employee.id' },
          { name: 'department_id', type: 'text', pattern: '[A-Z]{3}-\\d{2}' },
        ],
      },
    ]);
    const employees = tableRecords(company, 'Employee');
    const managers = tableRecords(company, 'Manager');
    const employeeIds = column(employees, 'id');
    const managerIds = column(managers, 'id');
    assert.equal(new Set(employeeIds).size, employeeIds.length);
    assert.equal(new Set(managerIds).size, managerIds.length);
    assert.ok(employeeIds.every((id) => /^[1-9]\d{4,5}$/.test(id)), 'digits without a leading zero');
    assert.ok(managerIds.every((id) => /^mgr-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)), 'UUID v4');
    const employeeSet = new Set(employeeIds);
    const managerSet = new Set(managerIds);
    assert.ok(column(employees, 'manager').every((id) => managerSet.has(id)), 'every manager exists');
    assert.ok(column(managers, 'employee_id').every((id) => employeeSet.has(id)), 'every employee exists');
    assert.ok(new Set(column(employees, 'manager')).size > 1900, 'managers are spread over employees');
    assert.ok(column(managers, 'department_id').every((text) => /^[A-Z]{3}-\d{2}$/.test(text)));
  });

  it('shares grouped ids among rows with the group size given by a formula of the row count', () => {
    const schools = spec([
      {
        name: 'pupils',
        rows: 20_000,
        columns: [
          { name: 'school', type: 'grouped-id', format: { kind: 'digits', minLength: 4, maxLength: 6 }, groupSize: 'int(max(5, min(rows / 50, 250)))' },
          { name: 'teacher', type: 'grouped-id', format: { kind: 'digits', minLength: 1, maxLength: 2 }, groupSize: 40 },
        ],
      },
    ]);
    const records = tableRecords(schools, 'pupils');
    assert.equal(new Set(column(records, 'school')).size, 250);
    assert.equal(new Set(column(records, 'teacher')).size, 40);
    assert.ok(column(records, 'teacher').every((id) => /^[1-9]\d?$/.test(id)));
  });

  it('pairs a column with another through a lookup table', () => {
    const regions = spec([
      {
        name: 'places',
        rows: 5_000,
        columns: [
          { name: 'region', type: 'categorical', values: { North: 0.5, South: 0.5 } },
          { name: 'district', type: 'paired', source: 'region', lookup: { North: ['Arua', 'Gulu'], South: { Masaka: 0.9, Mbarara: 0.1 } } },
          { name: 'code', type: 'paired', source: 'district', lookup: { Arua: 'AR', Gulu: 'GU', Masaka: 'MA', Mbarara: 'MB' } },
        ],
      },
    ]);
    const records = tableRecords(regions, 'places');
    const allowed: Record<string, string[]> = { North: ['Arua', 'Gulu'], South: ['Masaka', 'Mbarara'] };
    for (const record of records) {
      assert.ok(allowed[record.region!]!.includes(record.district!), JSON.stringify(record));
      assert.equal(record.code, record.district!.slice(0, 2).toUpperCase());
    }
    const south = records.filter((record) => record.region === 'South');
    assert.ok(Math.abs(south.filter((record) => record.district === 'Masaka').length / south.length - 0.9) < 0.03);
  });

  it('draws dates on their frequency, formatted as asked', () => {
    const dated = spec([
      {
        name: 'visits',
        rows: 2_000,
        columns: [
          { name: 'month', type: 'date', from: '2024-01-15', to: '2024-12-31', frequency: 'MS', format: '%d/%m/%Y' },
          { name: 'week', type: 'date', from: '2024-01-01', to: '2024-03-31', frequency: 'W' },
          { name: 'at', type: 'date', from: '2024-02-28T00:00:00', to: '2024-03-01T23:59:59', datetime: true },
        ],
      },
    ]);
    const records = tableRecords(dated, 'visits');
    const months = new Set(column(records, 'month'));
    assert.equal(months.size, 11); // Feb … Dec 2024: month starts on or after 15 Jan
    assert.ok([...months].every((text) => /^01\/(0[2-9]|1[0-2])\/2024$/.test(text)));
    assert.ok(column(records, 'week').every((text) => new Date(`${text}T00:00:00Z`).getUTCDay() === 1), 'Mondays, like 2024-01-01');
    assert.ok(column(records, 'at').every((text) => text >= '2024-02-28T00:00:00' && text <= '2024-03-01T23:59:59'));
    assert.ok(column(records, 'at').some((text) => text.startsWith('2024-02-29')), 'the leap day is in range');
  });
});

describe('synthetic data: determinism and shards', () => {
  const mixed = spec([
    {
      name: 't',
      rows: 3 * BLOCK_ROWS + 123,
      columns: [
        { name: 'id', type: 'id', format: { kind: 'uuid', prefix: 'avf-phone-uuid-' }, primaryKey: true },
        { name: 'n', type: 'id', format: { kind: 'row-number' } },
        { name: 'c', type: 'categorical', values: { 'a,b': 0.5, 'say "hi"': 0.25, 'line\nbreak': 0.25 }, missing: 0.1 },
        { name: 'x', type: 'numeric', distribution: 'normal', mean: 0, sd: 1, min: -3, max: 3 },
        { name: 'y', type: 'derived', expression: 'x * 2', precision: 3 },
        { name: 'w', type: 'text', minLength: 0, maxLength: 12, alphabet: 'ab,"\n' },
      ],
    },
  ]);

  it('gives byte-identical output for the same spec and seed, and other output for another seed', () => {
    assert.equal(tableText(mixed, 't'), tableText(mixed, 't'));
    assert.notEqual(tableText({ ...mixed, seed: 8 }, 't'), tableText(mixed, 't'));
  });

  it('gives byte-identical output however the rows are split into shards, in any order', () => {
    const whole = tableText(mixed, 't');
    const rows = mixed.tables[0]!.rows;
    for (const cuts of [[1], [BLOCK_ROWS], [17, 5000, 9999], [rows - 1], [100, 101, 102, 7000]]) {
      const bounds = [0, ...cuts, rows];
      const shards = bounds.slice(1).map((end, index) => ({ start: bounds[index]!, end }));
      const texts = new Map(shards.reverse().map((shard) => [shard.start, tableText(mixed, 't', 'csv', shard)]));
      assert.equal([...texts.entries()].sort(([a], [b]) => a - b).map(([, text]) => text).join(''), whole, `cuts ${cuts.join(',')}`);
    }
  });

  it('gives the same bytes for a shard generated in another process', async () => {
    const rows = mixed.tables[0]!.rows;
    const script = `
      const { generateTableChunks } = require(${JSON.stringify(join(__dirname, '..', 'activities', 'synth', 'generate'))});
      const spec = JSON.parse(process.argv[1]);
      for (const chunk of generateTableChunks(spec, 't', { format: 'csv', start: 5000, end: ${rows} })) process.stdout.write(chunk);
    `;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '-e', script, JSON.stringify(mixed)], { maxBuffer: 64 * 1024 * 1024 });
    assert.equal(tableText(mixed, 't', 'csv', { start: 0, end: 5000 }) + stdout, tableText(mixed, 't'));
  });
});

describe('synthetic data: bad specs are rejected before generation, by path', () => {
  function problems(input: unknown): string[] {
    try {
      parseSynthSpec(input);
    } catch (err) {
      assert.ok(err instanceof SpecError, String(err));
      return err.problems;
    }
    assert.fail('accepted');
  }
  const base = (columns: unknown[], rows = 10, extraTables: unknown[] = []) => ({ name: 's', tables: [{ name: 't', rows, columns }, ...extraTables] });

  const cases: Array<[string, unknown, RegExp]> = [
    ['probabilities that do not sum to 1', base([{ name: 'c', type: 'categorical', values: { a: 0.5, b: 0.4 } }]), /^tables\[0\]\.columns\[0\]\.values: probabilities sum to 0\.9/],
    ['min > max', base([{ name: 'n', type: 'numeric', min: 5, max: 1 }]), /^tables\[0\]\.columns\[0\]\.min: min 5 is greater than max 1/],
    ['a foreign key to a missing table', base([{ name: 'f', type: 'foreign-key', references: 'nope.id' }]), /^tables\[0\]\.columns\[0\]\.references: no table "nope"/],
    ['a foreign key to a missing column', base([{ name: 'f', type: 'foreign-key', references: 't.nope' }]), /^tables\[0\]\.columns\[0\]\.references: table "t" has no column "nope"/],
    ['a foreign key to a column that is not a key', base([{ name: 'c', type: 'constant', value: 1 }, { name: 'f', type: 'foreign-key', references: 't.c' }]), /^tables\[0\]\.columns\[1\]\.references: "t\.c" is not a primary key/],
    ['a primary-key space smaller than the row count', base([{ name: 'id', type: 'id', format: { kind: 'digits', minLength: 1, maxLength: 2 }, primaryKey: true }], 100), /^tables\[0\]\.columns\[0\]\.format: a primary key needs 100 distinct ids but this format has only 99/],
    ['a group size of zero', base([{ name: 'g', type: 'grouped-id', format: { kind: 'digits', minLength: 1, maxLength: 3 }, groupSize: 0 }]), /^tables\[0\]\.columns\[0\]\.groupSize: group size is 0/],
    ['a group size formula naming an unknown variable', base([{ name: 'g', type: 'grouped-id', format: { kind: 'digits', minLength: 1, maxLength: 3 }, groupSize: 'rowz / 2' }]), /^tables\[0\]\.columns\[0\]\.groupSize: unknown name rowz/],
    ['a negative row count', base([{ name: 'c', type: 'constant', value: 1 }], -5), /^tables\[0\]\.rows: /],
    ['an absurd row count', base([{ name: 'c', type: 'constant', value: 1 }], 1e12), /^tables\[0\]\.rows: /],
    ['duplicate column names', base([{ name: 'c', type: 'constant', value: 1 }, { name: 'c', type: 'constant', value: 2 }]), /^tables\[0\]\.columns\[1\]\.name: column "c" is defined twice/],
    ['a derived expression naming an unknown column', base([{ name: 'd', type: 'derived', expression: 'missing_col * 2' }]), /^tables\[0\]\.columns\[0\]\.expression: unknown column "missing_col"/],
    ['derived columns in a cycle', base([{ name: 'a', type: 'derived', expression: 'b + 1' }, { name: 'b', type: 'derived', expression: 'a + 1' }]), /^tables\[0\]\.columns: columns depend on each other in a cycle: a → b → a/],
    ['an unknown column type', base([{ name: 'c', type: 'emoji' }]), /^tables\[0\]\.columns\[0\]\.type: /],
    ['a paired column missing a lookup entry', base([{ name: 'r', type: 'categorical', values: { N: 0.5, S: 0.5 } }, { name: 'd', type: 'paired', source: 'r', lookup: { N: 'x' } }]), /^tables\[0\]\.columns\[1\]\.lookup: no entry for "S"/],
    ['a bad text pattern', base([{ name: 't', type: 'text', pattern: '(a|b)' }]), /^tables\[0\]\.columns\[0\]\.pattern: pattern "\(a\|b\)": "\(" is not supported/],
    ['an impossible date', base([{ name: 'd', type: 'date', from: '2024-02-30', to: '2024-03-01' }]), /^tables\[0\]\.columns\[0\]\.from: not a date/],
  ];
  for (const [label, input, expected] of cases) {
    it(`rejects ${label}`, () => {
      const found = problems(input);
      assert.ok(found.some((problem) => expected.test(problem)), found.join('\n'));
    });
  }
});
