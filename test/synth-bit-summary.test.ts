/**
 * Summary-statistics files as BIT's library writes them (test/fixtures/bit/: dictionary_out, its SRS
 * variant, convert_from_srs.py's output, a one-column table) load without edits and generate what
 * they describe.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { parse } from 'csv-parse/sync';

import { importSummaryStatistics } from '../activities/synth/importers/summary-statistics';
import { loadSynthSpec } from '../activities/synth/load-spec';
import { type ColumnOf, type ColumnSpec, SpecError, type SynthSpec } from '../activities/synth/spec';
import { formatStrftime, parseStrftime, unknownStrftimeCodes } from '../activities/synth/strftime';
import { column, meanAndSd, proportions, tableRecords, tableText } from './helpers/synth';

const FIXTURES = join(__dirname, 'fixtures', 'bit');

async function load(file: string): Promise<{ spec: SynthSpec; warnings: string[] }> {
  const { spec, warnings } = await loadSynthSpec(join(FIXTURES, file));
  return { spec, warnings };
}

function columnOf<T extends ColumnSpec['type']>(spec: SynthSpec, name: string, type: T): ColumnOf<T> {
  const found = spec.tables[0]!.columns.find((candidate) => candidate.name === name);
  assert.ok(found, `no column ${name}`);
  assert.equal(found.type, type, `${name} is ${found.type}`);
  return found as ColumnOf<T>;
}

const near = (actual: number, expected: number, tolerance: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected} ± ${tolerance}`);

/** A minimal BIT file around some columns, for the checks of one key at a time. */
const bitTable = (...columns: Array<Record<string, unknown>>): Record<string, unknown> => ({ Table_name: 't', Table_type: 'normal_table', Number_of_rows: 2000, Column_details: columns });

describe("BIT's dictionary_out (ReadingBuddies_2019_summary_stats.json)", async () => {
  const { spec, warnings } = await load('ReadingBuddies_2019_summary_stats.json');
  const records = tableRecords(spec, 'ReadingBuddies_2019');

  it('loads as written: Table_type, the table name and its row count', () => {
    assert.equal(spec.name, 'ReadingBuddies_2019');
    assert.equal(spec.tables[0]!.rows, 4000);
    assert.equal(records.length, 4000);
  });

  it("keeps the seed's id rules, and QA tests the ids as the type the file gave them", () => {
    assert.deepEqual(column(records, 'Project_Row_ID').slice(0, 3), ['1', '2', '3']);
    assert.equal(columnOf(spec, 'Project_Row_ID', 'id').qa, 'numeric');
    const pupils = column(records, 'Anon_Pupil_ID');
    assert.equal(new Set(pupils).size, 4000);
    assert.ok(pupils.every((id) => /^[1-9]\d{3,6}$/.test(id)));
    assert.equal(columnOf(spec, 'Anon_Pupil_ID', 'id').qa, 'numeric');
    assert.equal(columnOf(spec, 'Anon_School_ID', 'grouped-id').qa, 'categorical');
    assert.equal(new Set(column(records, 'Anon_School_ID')).size, 80); // max(5, min(4000/50, 250))
    assert.ok(column(records, 'Anon_Class_ID').every((id) => id === ''), 'an empty id column stays empty');
  });

  it('reads numeric columns: integers, decimal_precision, averaged min and max, the missing share', () => {
    const ks1 = columnOf(spec, 'KS1_reading', 'numeric');
    assert.equal(ks1.kind, 'integer');
    assert.equal(ks1.outOfRange, 'clamp');
    const scores = column(records, 'KS1_reading');
    near(scores.filter((cell) => cell === '').length / 4000, 0.03675, 0.012, 'KS1_reading missing share');
    const present = scores.filter(Boolean);
    assert.ok(present.every((cell) => /^\d+$/.test(cell) && Number(cell) >= 4 && Number(cell) <= 27), 'integers within [ceil(min), floor(max)]');
    near(meanAndSd(present.map(Number)).mean, 15.3185, 0.3, 'KS1_reading mean');

    const gains = column(records, 'Reading_age_gain').filter(Boolean);
    assert.ok(gains.every((cell) => /^-?\d+\.\d{7}$/.test(cell)), 'seven decimals, as decimal_precision says');
    const { mean, sd } = meanAndSd(gains.map(Number));
    near(mean, 4.2871552, 0.15, 'Reading_age_gain mean');
    near(sd, 2.5188731, 0.15, 'Reading_age_gain sd');
  });

  it('warns about statistics that contradict each other, and clamps as BIT does', () => {
    assert.ok(warnings.some((w) => /^Column_details\[6\]\.standard_deviation: sd 14\.9 is larger than any distribution on \[6\.2, 30\] with mean 21\.4 can have \(11\.43/.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w) => /^Column_details\[7\]\.mean: mean 31\.5 is outside \[32\.5, 45\]/.test(w)), warnings.join('\n'));
    assert.ok(warnings.every((w) => !w.includes('KS1_reading') && !w.startsWith('Column_details[4]')), 'consistent columns get no warning');
    const sessions = column(records, 'Sessions_attended').map(Number);
    assert.ok(sessions.every((n) => n >= 7 && n <= 30));
    // N(21.4, 14.9) passes 30 about 28 % of the time: clamping piles those rows on 30, redrawing would not.
    near(sessions.filter((n) => n === 30).length / sessions.length, 0.28, 0.04, 'share clamped to the maximum');
    const minutes = column(records, 'Minutes_per_session').map(Number);
    assert.ok(minutes.every((n) => n >= 32.5 && n <= 45));
  });

  it('reads flat categorical proportions, nan being the missing share and keys such as "1.0" kept as written', () => {
    const fsm = proportions(column(records, 'FSM_ever'));
    near(fsm.get('1.0')!, 0.52, 0.025, 'FSM_ever 1.0');
    near(fsm.get('0.0')!, 0.4125, 0.025, 'FSM_ever 0.0');
    near(fsm.get('')!, 0.0675, 0.012, 'FSM_ever missing');
    assert.deepEqual(new Set(fsm.keys()), new Set(['0.0', '1.0', '']));
  });

  it('reads date, datetime and time columns in their strftime formats (%Y-%m-%d, %Y-%m-%d %X, %X)', () => {
    const dates = column(records, 'Test_date').filter(Boolean);
    assert.ok(dates.every((date) => /^2019-0[67]-\d\d$/.test(date) && date >= '2019-06-03' && date <= '2019-07-12'), dates.slice(0, 3).join());
    const consent = column(records, 'Consent_recorded');
    assert.ok(consent.every((value) => /^2018-(09|10)-\d\d \d\d:\d\d:\d\d$/.test(value) && value >= '2018-09-10 08:45:12' && value <= '2018-10-19 16:20:05'), consent[0]);
    const starts = column(records, 'Session_start').filter(Boolean);
    assert.ok(starts.every((time) => /^\d\d:\d\d:\d\d$/.test(time) && time >= '09:05:00' && time <= '14:40:30'), starts[0]);
    near(1 - starts.length / 4000, 0.02, 0.01, 'Session_start missing share');
  });

  it('draws patterned text position by position from character_number_N, and unpatterned text between Min_length and Max_length', () => {
    const forms = column(records, 'Form_code');
    assert.ok(forms.every((form) => /^Y[1-6][ABC]$/.test(form)), forms.slice(0, 5).join());
    near(proportions(forms.map((form) => form[2]!)).get('A')!, 0.6, 0.03, 'third character A');
    const comments = column(records, 'Teacher_comment');
    near(comments.filter((comment) => comment === '').length / 4000, 0.4575, 0.03, 'Teacher_comment missing share');
    assert.ok(comments.filter(Boolean).every((comment) => comment.length >= 3 && comment.length <= 64));
    assert.ok(column(records, 'Withdrawal_reason').every((value) => value === ''), 'an empty column (all_values NaN) stays empty');
  });
});

describe("BIT's SRS variant (Maths_Mastery_Pilot_Wave_2_srs_summary_stats.json)", async () => {
  const { spec, warnings } = await load('Maths_Mastery_Pilot_Wave_2_srs_summary_stats.json');
  const records = tableRecords(spec, 'Maths Mastery Pilot (Wave 2)');

  it('loads with Counts, Disclosure, Note and the count for … keys, and a spec name made of the table name', () => {
    assert.equal(spec.name, 'Maths_Mastery_Pilot_Wave_2_');
    assert.equal(records.length, 2480);
    assert.deepEqual(warnings, []);
  });

  it('never draws a value suppressed for disclosure (proportion 0, count null)', () => {
    const ethnicity = proportions(column(records, 'Ethnicity'));
    assert.equal(ethnicity.get('Traveller'), undefined);
    near(ethnicity.get('White British')!, 0.6831, 0.03, 'White British');
    near(proportions(column(records, 'Year_group')).get('4')!, 0.3302, 0.03, 'Year_group 4');
  });

  it('keeps the id rules whatever the type (text in the SRS export), QA-testing only numeric and categorical ones', () => {
    assert.equal(columnOf(spec, 'Anon_Pupil_ID', 'id').qa, undefined);
    assert.equal(columnOf(spec, 'Anon_Teacher_ID', 'grouped-id').qa, 'numeric');
    assert.ok(column(records, 'Anon_Teacher_ID').every((id) => /^[1-9]\d?$/.test(id)));
  });

  it('reads the numeric missing share, padded patterned text and a %d/%m/%Y date', () => {
    const scores = column(records, 'Maths_score');
    near(scores.filter((cell) => cell === '').length / scores.length, 0.052, 0.015, 'Maths_score missing');
    assert.ok(scores.filter(Boolean).every((cell) => /^\d+\.\d$/.test(cell)));
    const postcodes = column(records, 'Postcode_area');
    assert.ok(postcodes.every((code) => /^[BL][12S][ 12][ 12]$/.test(code)), postcodes.slice(0, 3).join('|'));
    const dates = column(records, 'Assessed_on');
    assert.ok(dates.every((date) => /^\d\d\/0[12]\/2020$/.test(date)), dates[0]);
    assert.equal(columnOf(spec, 'Assessed_on', 'date').from, '2020-01-14T00:00:00');
  });
});

describe("convert_from_srs.py's output (PhonicsBoost_Y1_converted.json)", async () => {
  const { spec, warnings } = await load('PhonicsBoost_Y1_converted.json');
  const records = tableRecords(spec, 'PhonicsBoost_Y1');

  it('reads is_integer "False" as false and "True" as true (a float column used to come out as integers)', () => {
    assert.equal(columnOf(spec, 'Attendance_rate', 'numeric').kind, 'float');
    assert.equal(columnOf(spec, 'Attendance_rate', 'numeric').precision, 7);
    const rates = column(records, 'Attendance_rate').map(Number);
    assert.ok(rates.filter((rate) => !Number.isInteger(rate)).length > 2400, "fractions, not integers");
    assert.ok(rates.every((rate) => rate >= 0.7381 && rate <= 1));
    assert.equal(columnOf(spec, 'Phonics_check', 'numeric').kind, 'integer');
    assert.ok(column(records, 'Phonics_check').filter(Boolean).every((cell) => /^\d+$/.test(cell)));
  });

  it('reads averaged_max_and_min "True", decimal_precision 7.0, the empty column (all_values) and the fixed-length text columns', () => {
    assert.equal(columnOf(spec, 'Notes', 'text').missing, 1);
    assert.ok(column(records, 'Tutor_name').every((name) => name.length >= 2 && name.length <= 21));
    assert.equal(columnOf(spec, 'Anon_School_ID', 'grouped-id').qa, undefined);
    const band = proportions(column(records, 'Reading_band'));
    assert.equal(band.get('Red'), undefined);
    near(band.get('')!, 0.2, 0.025, 'Reading_band missing');
    assert.deepEqual(warnings, []);
  });
});

describe('a one-column table with missing values (Consent_only_summary_stats.json)', async () => {
  const { spec } = await load('Consent_only_summary_stats.json');

  for (const format of ['csv', 'tsv'] as const) {
    it(`writes a missing cell as "" so that readers skipping blank lines (pandas, readr) get every row back (${format})`, () => {
      const text = tableText(spec, 'Consent_only', format);
      const lines = text.split('\n').slice(1, -1);
      assert.equal(lines.length, 10000);
      assert.ok(lines.every((line) => line !== ''), 'no blank line');
      const rows = parse(text, { columns: true, skip_empty_lines: true, delimiter: format === 'csv' ? ',' : '\t' }) as Array<{ Consent: string }>;
      assert.equal(rows.length, 10000);
      near(rows.filter((row) => row.Consent === '').length / 10000, 0.2, 0.015, 'missing share read back');
    });
  }
});

describe('summary-statistics keys one at a time', () => {
  it('reads numbers given as text, and "true"/"false" in any case; anything else names its path', () => {
    const spec = importSummaryStatistics(bitTable({ Name: 'x', Type: 'numeric', mean: '5', standard_deviation: '1', minimum: '0', maximum: '10', is_integer: 'false', decimal_precision: '2', missing_value_freq: '0.0', averaged_max_and_min: 'TRUE', '# of values in average_max_min': 10 }));
    assert.equal(columnOf(spec, 'x', 'numeric').kind, 'float');
    assert.throws(
      () => importSummaryStatistics(bitTable({ Name: 'x', Type: 'numeric', mean: 5, standard_deviation: 1, minimum: 0, maximum: 10, is_integer: 'no', missing_value_freq: 'some' })),
      (err: unknown) =>
        err instanceof SpecError &&
        err.problems.some((p) => p.startsWith('Column_details[0].is_integer: must be true or false')) &&
        err.problems.some((p) => p.startsWith('Column_details[0].missing_value_freq: must be a number')),
    );
  });

  it('accepts all_values on text (convert_from_srs), and a Type written with its quotes', () => {
    const spec = importSummaryStatistics(bitTable({ Name: 'n', Type: '"text"', Pattern: 'False', Max_length: 21, Min_length: 2, missing_value_freq: 0.0, all_values: 'sample' }));
    assert.deepEqual(columnOf(spec, 'n', 'text'), { name: 'n', type: 'text', minLength: 2, maxLength: 21, missing: 0 });
  });

  it('warns when min is above max, earliest after latest, proportions do not sum to 1, or the averaging count is below 10', () => {
    const warnings: string[] = [];
    const spec = importSummaryStatistics(
      bitTable(
        { Name: 'a', Type: 'numeric', mean: 5, standard_deviation: 1, minimum: 10, maximum: 0, is_integer: false, missing_value_freq: 0, averaged_max_and_min: true, '# of values in average_max_min': 5 },
        { Name: 'd', Type: 'date', earliest: '2020-03-01', latest: '2020-01-01', format: '%Y-%m-%d', missing_value_freq: 0, averaged_max_and_min: true, '# of values in average_max_min': 10 },
        { Name: 'c', Type: 'categorical', x: 0.5, y: 0.3 },
      ),
      { warnings },
    );
    assert.deepEqual(
      warnings.map((w) => w.split(':')[0]),
      ['Column_details[0].# of values in average_max_min', 'Column_details[0].minimum', 'Column_details[1].earliest', 'Column_details[2]'],
      warnings.join('\n'),
    );
    assert.equal(columnOf(spec, 'a', 'numeric').min, 0);
    assert.equal(columnOf(spec, 'd', 'date').from, '2020-01-01T00:00:00');
    near(columnOf(spec, 'c', 'categorical').values.x!, 0.625, 1e-12, 'rescaled proportion');
  });

  it('refuses unknown keys, unknown strftime codes and dates that do not match their format, naming each path', () => {
    assert.throws(
      () =>
        importSummaryStatistics(
          bitTable(
            { Name: 'a', Type: 'numeric', mean: 1, standard_deviation: 1, minimum: 0, maximum: 2, median: 1 },
            { Name: 'b', Type: 'date', earliest: '2020-01-01', latest: '2020-02-01', format: '%Y-%m-%d %Q' },
            { Name: 'c', Type: 'time', earliest: '9 o\'clock', latest: '10:00:00', format: '%X' },
            { Name: 'd', Type: 'text', Pattern: true, Max_length: 1, character_number_0: { ab: 1 } },
          ),
        ),
      (err: unknown) =>
        err instanceof SpecError &&
        err.problems.some((p) => p.startsWith('Column_details[0].median: is not a key of a numeric column')) &&
        err.problems.some((p) => p.startsWith('Column_details[1].format: "%Y-%m-%d %Q" uses strftime codes this importer does not know: %Q')) &&
        err.problems.some((p) => p.startsWith('Column_details[2].earliest: "9 o\'clock" is not a time written as "%X"')) &&
        err.problems.some((p) => p.startsWith('Column_details[3].character_number_0: "ab" is not a single character')),
    );
  });

  it("keeps seed 000's notes working (Values counts, Pattern as a regex, ISO bounds with an output format)", () => {
    const spec = importSummaryStatistics({
      Table_name: 'seed',
      Number_of_rows: 100,
      Column_details: [
        { Name: 'c', Type: 'categorical', Values: { a: 60, b: 30, nan: 10 } },
        { Name: 'd', Type: 'date', earliest: '2023-05-08', latest: '2023-05-19', format: '%d/%m/%Y' },
        { Name: 't', Type: 'text', Pattern: '[A-Z]{2}' },
      ],
    });
    assert.deepEqual(columnOf(spec, 'c', 'categorical'), { name: 'c', type: 'categorical', values: { a: 2 / 3, b: 1 / 3 }, missing: 0.1 });
    assert.equal(columnOf(spec, 'd', 'date').from, '2023-05-08T00:00:00');
    assert.equal(columnOf(spec, 't', 'text').pattern, '[A-Z]{2}');
  });
});

describe('strftime', () => {
  const time = Date.UTC(2019, 6, 4, 15, 7, 9);

  it('writes and reads back every code BIT writes and those a user may give', () => {
    const cases: Array<[string, string]> = [
      ['%Y-%m-%d', '2019-07-04'],
      ['%X', '15:07:09'],
      ['%Y-%m-%d %X', '2019-07-04 15:07:09'],
      ['%d/%m/%y %I:%M %p', '04/07/19 03:07 PM'],
      ['%a %d %b %Y', 'Thu 04 Jul 2019'],
      ['%A %e %B %Y, %H.%M.%S', 'Thursday  4 July 2019, 15.07.09'],
      ['%F %T', '2019-07-04 15:07:09'],
      ['%x %R', '07/04/19 15:07'],
      ['%j|%f|%z|%Z|%%', '185|000000|+0000|UTC|%'],
      ['%c', 'Thu Jul  4 15:07:09 2019'],
    ];
    for (const [format, text] of cases) {
      assert.equal(formatStrftime(time, format), text, format);
      const back = parseStrftime(text, format);
      assert.ok(back !== undefined, `${format} reads back`);
      assert.equal(formatStrftime(back, format), text, `${format} round trip`);
    }
    assert.equal(parseStrftime('15:07:09', '%X'), Date.UTC(1900, 0, 1, 15, 7, 9), "a time alone is on strptime's 1900-01-01");
    assert.equal(parseStrftime('2019-02-30', '%Y-%m-%d'), undefined, 'an impossible date');
    assert.deepEqual(unknownStrftimeCodes('%Y %Q %k %'), ['%Q', '%k', '%']);
  });
});
