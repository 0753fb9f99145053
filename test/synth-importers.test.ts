import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parse as parseYaml } from 'yaml';

import { importExhibitSpec } from '../activities/synth/importers/exhibit';
import { importSummaryStatistics } from '../activities/synth/importers/summary-statistics';
import { detectSpecFormat, specFromDocument } from '../activities/synth/load-spec';
import { SpecError } from '../activities/synth/spec';
import { column, meanAndSd, proportions, tableRecords } from './helpers/synth';

const EXHIBIT_SPEC = `
metadata:
  number_of_rows: 20000
  uuid_columns: [record_id]
  categorical_columns: [region, region_code, gender]
  numerical_columns: [age, income]
  date_columns: [visit_date, month]
  random_seed: 0
  id: survey
columns:
  record_id:
    type: uuid
    frequency_distribution:
    - frequency | probability_vector
    - 1         | 1.0
    miss_probability: 0.0
    anonymising_set: uuid
    uuid_seed: 0
  region:
    type: categorical
    paired_columns: [region_code]
    uniques: 2
    original_values:
    - region | paired_region_code | probability_vector
    - North  | N                  | 0.6
    - South  | S                  | 0.4
    - Missing data | Missing data | 0.0
    cross_join_all_unique_values: false
    miss_probability: 0.0
    anonymising_set: random
    dispersion: 0
  region_code:
    type: categorical
    paired_columns: [region]
    uniques: 2
    original_values: See paired column
    cross_join_all_unique_values: false
    miss_probability: 0.0
    anonymising_set: random
    dispersion: 0
  gender:
    type: categorical
    original_values:
    - gender       | probability_vector
    - F            | 0.45
    - M            | 0.45
    - Missing data | 0.1
    miss_probability: 0.0
    anonymising_set: random
  age:
    type: continuous
    precision: integer
    distribution: weighted_uniform
    distribution_parameters:
      dispersion: 0
      target_min: 18
      target_max: 65
      target_mean:
      target_std:
      target_sum:
    miss_probability: 0.0
  income:
    type: continuous
    precision: float
    distribution: normal
    distribution_parameters:
      target_min: 0
      target_max: 100000
      target_mean: 30000
      target_std: 5000
    miss_probability: 0.05
  visit_date:
    type: date
    from: '2024-01-01'
    to: '2024-03-31'
    frequency: D
    uniques: 91
    miss_probability: 0.0
    cross_join_all_unique_values: false
  month:
    type: date
    from: '2024-01-01'
    uniques: 6
    frequency: MS
    miss_probability: 0.0
constraints:
  allow_duplicates: false
  basic_constraints: []
  custom_constraints: {}
derived_columns:
  age_next_year: age + 1
`;

describe('exhibit importer', () => {
  const spec = importExhibitSpec(parseYaml(EXHIBIT_SPEC));
  const records = tableRecords(spec, 'survey');

  it('maps the supported subset onto a spec that generates matching data', () => {
    assert.equal(detectSpecFormat(parseYaml(EXHIBIT_SPEC)), 'exhibit');
    assert.equal(records.length, 20000);
    assert.equal(new Set(column(records, 'record_id')).size, 20000, 'uuid ids are unique');
    const regions = proportions(column(records, 'region'));
    assert.ok(Math.abs(regions.get('North')! - 0.6) < 0.015);
    for (const record of records) assert.equal(record.region_code, record.region === 'North' ? 'N' : 'S', 'paired values follow');
    const gender = proportions(column(records, 'gender'));
    assert.ok(Math.abs(gender.get('')! - 0.1) < 0.01, 'the Missing data row is the missing share');
    const ages = column(records, 'age').map(Number);
    assert.ok(ages.every((age) => Number.isInteger(age) && age >= 18 && age <= 65));
    const incomes = column(records, 'income').filter(Boolean).map(Number);
    // exhibit maps a normal column with target_min and target_max onto that range (its draws' smallest → 0,
    // largest → 100,000), whatever target_mean says: the mean lands mid-range, give or take the extremes' noise.
    assert.equal(Math.min(...incomes), 0);
    assert.equal(Math.max(...incomes), 100_000);
    assert.ok(Math.abs(meanAndSd(incomes).mean - 50_000) < 5_000, `income mean ${meanAndSd(incomes).mean}`);
    assert.ok(Math.abs(1 - incomes.length / 20000 - 0.05) < 0.01);
    assert.ok(column(records, 'visit_date').every((date) => date >= '2024-01-01' && date <= '2024-03-31'));
    assert.deepEqual([...new Set(column(records, 'month'))].sort(), ['2024-01-01', '2024-02-01', '2024-03-01', '2024-04-01', '2024-05-01', '2024-06-01']);
    for (const record of records.slice(0, 100)) assert.equal(Number(record.age_next_year), Number(record.age) + 1);
  });

  it('names the key of anything outside the supported subset', () => {
    const document = parseYaml(EXHIBIT_SPEC) as { columns: Record<string, Record<string, unknown>>; constraints: Record<string, unknown> };
    document.columns.age!.distribution_parameters = { target_min: 0, target_max: 1, dispersion: 1.5 };
    document.columns.gender!.anonymising_set = 'mountains';
    document.columns.record_id!.frequency_distribution = ['frequency | probability_vector', '0 | 0.5', '2 | 0.5'];
    document.columns.gender!.weights = {};
    document.constraints.basic_constraints = ['age between 20'];
    document.constraints.custom_constraints = { multi_dose: { partition: 'record_id' } };
    try {
      importExhibitSpec(document);
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof SpecError);
      assert.deepEqual(err.problems.map((problem) => problem.split(':')[0]).sort(), [
        'columns.age.distribution_parameters.dispersion',
        'columns.gender.anonymising_set',
        'columns.gender.weights',
        'columns.record_id.frequency_distribution',
        'constraints.basic_constraints[0]',
        'constraints.custom_constraints.multi_dose.targets',
      ]);
    }
  });
});

describe('summary-statistics importer (seed 000)', () => {
  const definition = {
    Table_name: 'Pupil outcomes',
    Number_of_rows: 10000,
    Column_details: [
      { Name: 'Project_Row_ID', Type: 'numeric', mean: 5000, standard_deviation: 2887, minimum: 1, maximum: 10000, is_integer: true, decimal_precision: 0, missing_value_freq: 0 },
      { Name: 'Anon_Pupil_ID', Type: 'numeric', mean: 1, standard_deviation: 1, minimum: 0, maximum: 9, is_integer: true, decimal_precision: 0, missing_value_freq: 0 },
      { Name: 'Anon_School_ID', Type: 'numeric', mean: 1, standard_deviation: 1, minimum: 0, maximum: 9, is_integer: true, decimal_precision: 0, missing_value_freq: 0 },
      { Name: 'Anon_Teacher_ID', Type: 'numeric', mean: 1, standard_deviation: 1, minimum: 0, maximum: 9, is_integer: true, decimal_precision: 0, missing_value_freq: 0 },
      { Name: 'Anon_Class_ID', Type: 'empty' },
      { Name: 'KS2_score', Type: 'numeric', mean: 104.2, standard_deviation: 6.1, minimum: 80, maximum: 120, is_integer: false, decimal_precision: 1, missing_value_freq: 0.02 },
      { Name: 'FSM', Type: 'categorical', Values: { Y: 2400, N: 7400, nan: 150, U: '<10' } },
      { Name: 'Test_date', Type: 'date', earliest: '2023-05-08', latest: '2023-05-19', format: '%d/%m/%Y' },
      { Name: 'Form_code', Type: 'text', Pattern: '[0-9][A-Z]' },
    ],
  };
  const spec = specFromDocument(definition);
  const records = tableRecords(spec, 'Pupil outcomes');

  it("produces the seed's plausible id columns with its group-size rules", () => {
    assert.deepEqual(column(records, 'Project_Row_ID').slice(0, 3), ['1', '2', '3']);
    const pupils = column(records, 'Anon_Pupil_ID');
    assert.equal(new Set(pupils).size, 10000);
    assert.ok(pupils.every((id) => /^[1-9]\d{3,6}$/.test(id)));
    assert.equal(new Set(column(records, 'Anon_School_ID')).size, 200); // max(5, min(10000/50, 250))
    assert.equal(new Set(column(records, 'Anon_Teacher_ID')).size, 80); // max(5, min(10000/100, 80))
    assert.ok(column(records, 'Anon_School_ID').every((id) => /^[1-9]\d{3,5}$/.test(id)));
    assert.ok(column(records, 'Anon_Class_ID').every((id) => id === ''), 'an empty id column stays empty');
  });

  it('follows the numeric, categorical, date and text statistics', () => {
    const scores = column(records, 'KS2_score').filter(Boolean).map(Number);
    assert.ok(Math.abs(meanAndSd(scores).mean - 104.2) < 0.3);
    assert.ok(Math.abs(meanAndSd(scores).sd - 6.1) < 0.3);
    assert.ok(scores.every((score) => score >= 80 && score <= 120));
    const fsm = proportions(column(records, 'FSM'));
    assert.ok(Math.abs(fsm.get('')! - 150 / 9955) < 0.006, 'nan is the missing share');
    assert.ok(Math.abs(fsm.get('U')! - 5 / 9955) < 0.002, 'a suppressed count stands for 5');
    assert.ok(column(records, 'Test_date').every((date) => /^(0[89]|1\d)\/05\/2023$/.test(date)));
    assert.ok(column(records, 'Form_code').every((code) => /^[0-9][A-Z]$/.test(code)));
  });

  it('names the path of unknown types and keys', () => {
    assert.throws(
      () => importSummaryStatistics({ Table_name: 't', Number_of_rows: 5, Column_details: [{ Name: 'a', Type: 'complex' }, { Name: 'b', Type: 'numeric', mean: 1, median: 2 }] }),
      (err: unknown) =>
        err instanceof SpecError &&
        err.problems.some((p) => p.startsWith('Column_details[0].Type: "complex" is not a supported type')) &&
        err.problems.some((p) => p.startsWith('Column_details[1].median: is not a key of a numeric column')),
    );
  });
});
