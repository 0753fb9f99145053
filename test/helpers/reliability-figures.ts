/** Figures the reliability tests measure, one JSON file per test, for the summary line at the end of the run. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RELIABILITY_FIGURES_FOLDER = join(__dirname, '..', '..', 'test-artifacts', 'reliability');

/** Writes `<repo>/test-artifacts/reliability/<name>.json`, replacing an earlier run's. */
export function recordReliabilityFigures(name: string, figures: Record<string, number>): void {
  mkdirSync(RELIABILITY_FIGURES_FOLDER, { recursive: true });
  writeFileSync(join(RELIABILITY_FIGURES_FOLDER, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
}
