import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { translatePandasExpression } from '../activities/synth/importers/exhibit';
import { loadSynthSpec } from '../activities/synth/load-spec';
import { column, proportions, tableRecords } from './helpers/synth';

const FIXTURE = join(__dirname, 'fixtures', 'exhibit', 'clinic.yml');

describe('exhibit specs as exhibit writes them', async () => {
  const warnings: string[] = [];
  const { spec } = await loadSynthSpec(FIXTURE, 'auto', { warnings });
  const table = spec.tables[0]!;
  const records = tableRecords(spec, table.name);

  it('loads YAML 1.1 integers, name keys, trailing pipes and a short Missing data row, warning about rescaled probabilities', () => {
    assert.equal(table.rows, 30_000);
    assert.ok(warnings.some((w) => /columns\.ward\.original_values: probabilities sum to 0\.98; rescaled/.test(w)), warnings.join(' | '));
    const ward = proportions(column(records, 'ward'));
    assert.ok(Math.abs(ward.get('Oak')! - 0.5 / 0.98) < 0.01);
  });

  it("writes exhibit's column order and uuids without hyphens", () => {
    assert.deepEqual(table.columns.map((c) => c.name), ['visit_id', 'ward', 'ward_code', 'urgency', 'quarter', 'opened', 'nights', 'visits', 'rate']);
    assert.ok(column(records, 'visit_id').every((id) => /^[0-9a-f]{32}$/.test(id)));
  });

  it('gives `from 2018-03-31, uniques 4` four quarter starts (QS) and four quarter ends (QE)', () => {
    assert.deepEqual([...new Set(column(records, 'quarter'))].sort(), ['2018-04-01', '2018-07-01', '2018-10-01', '2019-01-01']);
    assert.deepEqual([...new Set(column(records, 'opened'))].sort(), ['2018-03-31', '2018-06-30', '2018-09-30', '2018-12-31']);
  });

  it('weights a continuous column by the categorical columns (target_sum / rows as the mean)', () => {
    const mean = (rows: typeof records, name: string): number => rows.reduce((sum, r) => sum + Number(r[name]), 0) / rows.length;
    // nights: mean 10 overall; relative weights Oak 0.1, Elm 0.3, Ash 0.6 (over probabilities 0.51, 0.31, 0.18).
    const byWard = (ward: string): number => mean(records.filter((r) => r.ward === ward), 'nights');
    const expectedFactor = (w: number): number => w / (0.1 * (0.5 / 0.98) + 0.3 * (0.3 / 0.98) + 0.6 * (0.18 / 0.98));
    for (const [ward, w] of [['Oak', 0.1], ['Elm', 0.3], ['Ash', 0.6]] as const) {
      assert.ok(Math.abs(byWard(ward) / 10 - expectedFactor(w)) < 0.12, `${ward}: ${byWard(ward)}`);
    }
    assert.ok(byWard('Ash') > 4 * byWard('Oak'));
  });

  it('keeps basic constraints (nights >= visits) and translates pandas derived columns', () => {
    assert.ok(records.every((r) => Number(r.nights) >= Number(r.visits)));
    const row = records.find((r) => Number(r.visits) > 0)!;
    assert.equal(Number(row.rate), Math.round((Number(row.nights) / Number(row.visits)) * 100) / 100);
    assert.equal(translatePandasExpression('los.div(stays).round(2)'), 'round((los / stays), 2)');
  });
});
