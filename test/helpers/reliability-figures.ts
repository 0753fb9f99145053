/** Where a reliability test leaves its figures for `npm test`'s summary line (scripts/lib/reliability-summary.ts). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { RELIABILITY_FIGURES_FOLDER, type ReliabilityFigures } from '../../scripts/lib/reliability-summary';

/** Writes `figures` as `test-artifacts/reliability/<name>.json` (replacing what this test wrote before). */
export async function recordReliabilityFigures(name: string, figures: ReliabilityFigures): Promise<void> {
  if (!/^[\w-]+$/.test(name)) throw new Error(`a figures file name is letters, digits, "-" and "_": ${JSON.stringify(name)}`);
  await mkdir(RELIABILITY_FIGURES_FOLDER, { recursive: true });
  await writeFile(join(RELIABILITY_FIGURES_FOLDER, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
}
