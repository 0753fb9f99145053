import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import fc from 'fast-check';

import { readCsvRecords } from '../activities/storage/csv-reader';
import { temporaryFolder } from './helpers/environment';

const cell = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', '1', ' ', ',', '\t', '"', '\n', '\r', '#', 'é', '🦜') }),
  fc.string({ unit: 'grapheme', maxLength: 5 }),
  fc.constant(''),
);

async function readAll(path: string, delimiter: ',' | '\t', skipLeadingComments = false): Promise<string[][]> {
  const records: string[][] = [];
  for await (const batch of readCsvRecords(path, delimiter, { skipLeadingComments })) records.push(...batch);
  return records;
}

describe('fast CSV reader', () => {
  it('reads what csv-stringify writes exactly as csv-parse does (random values, both delimiters, CRLF)', async () => {
    const folder = await temporaryFolder('csv-reader');
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(cell, { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 30 }),
        fc.constantFrom<',' | '\t'>(',', '\t'),
        fc.constantFrom('\n', '\r\n'),
        async (rows, delimiter, recordDelimiter) => {
          // quote_record_delimiter: an explicit record delimiter otherwise stops csv-stringify quoting \r and \n.
          const text = stringify(rows, { delimiter, record_delimiter: recordDelimiter === '\n' ? 'unix' : 'windows', quote_record_delimiter: true });
          const path = join(folder, `case-${run++}.csv`);
          await writeFile(path, text);
          assert.deepEqual(await readAll(path, delimiter), parse(text, { delimiter, relax_column_count: true }));
        },
      ),
      { numRuns: 300, seed: 4242 },
    );
  });

  it('splits records across chunk boundaries and skips a leading # comment line only', async () => {
    const folder = await temporaryFolder('csv-reader-big');
    const rows = Array.from({ length: 60_000 }, (_, i) => [`#${i}`, `"quoted ${i}"`, `multi\nline ${i}`, String(i * 0.5)]);
    const text = `# {"Date generated": "2026-11-21"}\n${stringify([['a', 'b', 'c', 'd'], ...rows])}`;
    const path = join(folder, 'big.csv');
    await writeFile(path, text);
    const records = await readAll(path, ',', true);
    assert.equal(records.length, 60_001);
    assert.deepEqual(records[0], ['a', 'b', 'c', 'd']);
    assert.deepEqual(records[60_000], rows[59_999]);
  });
});
