/**
 * The reliability tests' one-line summary (issue 11): each such test writes its figures as JSON to
 * `test-artifacts/reliability/<test name>.json`; `npm test` clears the folder at its start and prints
 * the line from it once every test file has finished. A figure whose test did not run prints as `-`.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { PROJECT_ROOT } from './tools';

export const RELIABILITY_FIGURES_FOLDER = join(PROJECT_ROOT, 'test-artifacts', 'reliability');

/** The figures, in the summary line's order: the chaos test's, then the bad-input corpus test's. */
export const RELIABILITY_FIGURES = ['kills', 'completed', 'identical', 'temp_left', 'bad_inputs', 'refused_before_side_effects'] as const;
export type ReliabilityFigure = (typeof RELIABILITY_FIGURES)[number];
export type ReliabilityFigures = Partial<Record<ReliabilityFigure, number>>;

/** Removes figures a previous invocation left, so the line only ever reports this one's tests. */
export function clearReliabilityFigures(folder = RELIABILITY_FIGURES_FOLDER): void {
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
}

/** `chaos kills=<n> completed=<n> …` from every figures file in `folder` (figures two files share are added). */
export function reliabilitySummaryLine(folder = RELIABILITY_FIGURES_FOLDER): string {
  const totals: ReliabilityFigures = {};
  let names: string[] = [];
  try {
    names = readdirSync(folder).filter((name) => name.endsWith('.json')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const name of names) {
    const figures = JSON.parse(readFileSync(join(folder, name), 'utf8')) as Record<string, unknown>;
    for (const figure of RELIABILITY_FIGURES) {
      const value = figures[figure];
      if (typeof value === 'number' && Number.isFinite(value)) totals[figure] = (totals[figure] ?? 0) + value;
    }
  }
  return `chaos ${RELIABILITY_FIGURES.map((figure) => `${figure}=${totals[figure] ?? '-'}`).join(' ')}`;
}
