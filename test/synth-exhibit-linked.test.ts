/**
 * exhibit's linked columns with the anonymisation database (issue #12): a group's values come from the
 * database's temp_<id>_<group> table, and the output keeps exhibit's column order. The expected order is what
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

  it('balances the cross-joined shift and warns that a linked child weights nothing', () => {
    const shift = proportions(column(records, 'shift'));
    assert.equal(shift.get('day'), 0.5);
    assert.equal(shift.get('night'), 0.5);
    assert.ok(warnings.some((w) => /columns\.site: its hours weights are not used/.test(w)), warnings.join(' | '));
  });
});
