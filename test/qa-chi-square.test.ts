import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { chiSquareSurvival } from '../activities/qa/gamma';

// SciPy chi2.sf reference values: test/fixtures/chi2/generate.py wrote chi2-sf.json (command in it).
const reference = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'chi2', 'chi2-sf.json'), 'utf8')) as { rows: Array<[number, number, number]> };

describe('chi-square p-values (regularised incomplete gamma) against SciPy chi2.sf', () => {
  it('agree to 1e-9 relative for df 1…20,000 and statistic 0…10×df', () => {
    let worst = 0;
    let worstAt = '';
    for (const [df, x, expected] of reference.rows) {
      const actual = chiSquareSurvival(x, df);
      if (expected < 1e-290) {
        assert.ok(actual < 1e-280, `df ${df} x ${x}: ${actual} where SciPy underflows to ${expected}`);
        continue;
      }
      const relative = Math.abs(actual - expected) / expected;
      if (relative > worst) [worst, worstAt] = [relative, `df ${df} x ${x}: ${actual} vs ${expected}`];
    }
    assert.ok(reference.rows.length > 1000);
    assert.ok(worst < 1e-9, `largest relative difference ${worst} at ${worstAt}`);
  });
});
