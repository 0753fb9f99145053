import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import fc from 'fast-check';

import { csvLine, DELIMITERS } from '../activities/storage/csv-cells';
import { parseSynthSpec } from '../activities/synth/spec';
import { tableText } from './helpers/synth';

// Values with every character CSV cares about, plus unicode and empties.
const cell = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'Z', '0', ' ', ',', '\t', '"', '\n', '\r', ';', "'", 'é', '语', '🦜', '\\') }),
  fc.string({ unit: 'grapheme' }),
  fc.constant(''),
);

describe('CSV writer', () => {
  for (const [format, delimiter] of Object.entries(DELIMITERS)) {
    it(`writes exactly what csv-stringify writes (${format}, random values)`, () => {
      fc.assert(
        fc.property(fc.array(fc.array(cell, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 20 }), (rows) => {
          const ours = rows.map((row) => csvLine(row, delimiter)).join('');
          assert.equal(ours, stringify(rows, { delimiter }));
        }),
        { numRuns: 2000, seed: 20261122 },
      );
    });
  }

  it('writes generated tables byte-identically to csv-stringify over the same cells', () => {
    const spec = parseSynthSpec({
      name: 'escaping',
      seed: 3,
      tables: [
        {
          name: 't',
          rows: 5000,
          columns: [
            { name: 'id, with comma', type: 'id', format: { kind: 'letters', minLength: 3, maxLength: 6, alphabet: 'ab,"\t' }, primaryKey: true },
            { name: 'c', type: 'categorical', values: { 'a,b': 0.3, 'say "hi"': 0.3, 'tab\there': 0.2, 'line\nbreak': 0.1, 'ñandú 🦜': 0.1 }, missing: 0.1 },
            { name: 'w', type: 'text', minLength: 0, maxLength: 8, alphabet: 'x,"\r\n\té' },
            { name: 'k', type: 'constant', value: 'a "quoted", value' },
            { name: 'p', type: 'paired', source: 'c', lookup: { 'a,b': '1,2', 'say "hi"': '"', 'tab\there': 't', 'line\nbreak': '\r', 'ñandú 🦜': '' } },
            { name: 'd', type: 'derived', expression: "concat(c, '|', w)" },
          ],
        },
      ],
    });
    for (const [format, delimiter] of Object.entries(DELIMITERS) as Array<[keyof typeof DELIMITERS, ',' | '\t']>) {
      const ours = tableText(spec, 't', format);
      const cells = parse(ours, { delimiter, relax_column_count: false }) as string[][];
      assert.equal(cells.length, 5001);
      assert.equal(stringify(cells, { delimiter }), ours, format);
    }
  });
});
