/**
 * exhibit's linked columns with the anonymisation database (issue #12): a group's values come from the
 * database's temp_<id>_<group> table, drawn from its most granular column when that one has values in the
 * spec (exhibit's "scenario 3"), and the output keeps exhibit's column order. The expected order is what
 * `exhibit fromspec` (0.9.x) wrote for this fixture with the same table in its database: the group first (its
 * most granular column leading, since that one has values in the spec), the group's paired columns, the other
 * columns, then the cross-joined ones.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import Database from 'better-sqlite3';

import { loadSynthSpec } from '../activities/synth/load-spec';
import { temporaryFolder } from './helpers/environment';
import { column, proportions, tableRecords } from './helpers/synth';

const FIXTURE = join(__dirname, 'fixtures', 'exhibit', 'linked.yml');
const SITES: Record<string, string> = { Alder: 'North', Birch: 'North', Cedar: 'South', Dale: 'South', Elm: 'South' };

async function anonymisationDatabase(): Promise<string> {
  const path = join(await temporaryFolder('exhibit-db-'), 'exhibit.db');
  const db = new Database(path);
  db.exec('CREATE TABLE temp_lk01_1 (board TEXT, site TEXT)');
  const insert = db.prepare('INSERT INTO temp_lk01_1 VALUES (?, ?)');
  for (const [site, board] of Object.entries(SITES)) insert.run(board, site);
  db.close();
  return path;
}

describe('exhibit linked columns', async () => {
  const warnings: string[] = [];
  const { spec } = await loadSynthSpec(FIXTURE, 'exhibit', { anonDb: await anonymisationDatabase(), warnings });
  const table = spec.tables[0]!;
  const records = tableRecords(spec, table.name);

  it("writes exhibit's column order: the linked group (most granular first), its pairs, the rest, the cross-joined", () => {
    assert.deepEqual(
      table.columns.map((c) => c.name),
      ['site', 'board', 'board_code', 'week', 'shift', 'hours'],
    );
  });

  it("keeps every row's site within its board, as the database's linked table says, and the board's code beside it", () => {
    assert.equal(records.length, 4000);
    for (const record of records) {
      assert.equal(record.board, SITES[record.site!], `${record.site} in ${record.board}`);
      assert.equal(record.board_code, record.board === 'North' ? 'N1' : 'S1');
    }
    assert.deepEqual([...new Set(column(records, 'site'))].sort(), Object.keys(SITES));
  });

  it('balances the cross-joined shift', () => {
    const shift = proportions(column(records, 'shift'));
    assert.equal(shift.get('day'), 0.5);
    assert.equal(shift.get('night'), 0.5);
  });

  // Figures from `exhibit fromspec` on this fixture, seeds 3, 4 and 5 pooled (12,000 rows): North 0.402, mean
  // hours North 5.58 and South 12.97. Pooled here over the same seeds (the shift is cross-joined, so each seed
  // draws 2,000 core rows).
  const pooled = [3, 4, 5].flatMap((seed) => tableRecords({ ...spec, seed }, table.name));

  it("draws the group from its most granular column, as exhibit does: board's own probabilities (0.7 North) give way to the sites'", () => {
    const north = proportions(column(pooled, 'board')).get('North')!;
    assert.ok(Math.abs(north - 0.4) < 0.03, `North ${north}, exhibit 0.402`);
    for (const share of proportions(column(pooled, 'site')).values()) assert.ok(Math.abs(share - 0.2) < 0.02, String(share));
  });

  it("weights hours by the board's weights as well as the site's, with no warning (exhibit multiplies them)", () => {
    assert.deepEqual(warnings.filter((w) => /weights are not used/.test(w)), []);
    const mean = (board: string): number => {
      const rows = pooled.filter((r) => r.board === board);
      return rows.reduce((sum, r) => sum + Number(r.hours), 0) / rows.length;
    };
    for (const [board, expected] of [['North', 5.58], ['South', 12.97]] as const) {
      assert.ok(Math.abs(mean(board) / expected - 1) < 0.05, `${board}: ${mean(board)} vs exhibit's ${expected}`);
    }
  });
});
