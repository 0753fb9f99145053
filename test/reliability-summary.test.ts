/** npm test's reliability summary line, from the figures files the reliability tests write. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { clearReliabilityFigures, reliabilitySummaryLine } from '../scripts/lib/reliability-summary';
import { temporaryFolder } from './helpers/environment';

describe('the reliability summary line', () => {
  it('prints every figure in order, "-" for a test that did not run, and nothing a previous invocation left', async () => {
    const folder = join(await temporaryFolder('reliability'), 'reliability');
    assert.equal(reliabilitySummaryLine(folder), 'chaos kills=- completed=- identical=- temp_left=- bad_inputs=- refused_before_side_effects=-', 'no folder yet');
    clearReliabilityFigures(folder);
    await writeFile(join(folder, 'chaos.json'), JSON.stringify({ kills: 25, completed: 1, identical: 1, temp_left: 0 }));
    assert.equal(reliabilitySummaryLine(folder), 'chaos kills=25 completed=1 identical=1 temp_left=0 bad_inputs=- refused_before_side_effects=-');
    await writeFile(join(folder, 'bad-inputs.json'), JSON.stringify({ bad_inputs: 64, refused_before_side_effects: 64, note: 'ignored' }));
    await writeFile(join(folder, 'chaos-2.json'), JSON.stringify({ kills: 3, completed: 1 }));
    assert.equal(reliabilitySummaryLine(folder), 'chaos kills=28 completed=2 identical=1 temp_left=0 bad_inputs=64 refused_before_side_effects=64');
    clearReliabilityFigures(folder);
    assert.equal(existsSync(join(folder, 'chaos.json')), false);
    assert.equal(reliabilitySummaryLine(folder), 'chaos kills=- completed=- identical=- temp_left=- bad_inputs=- refused_before_side_effects=-');
  });
});
