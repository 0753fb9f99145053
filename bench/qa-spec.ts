/** The QA benchmark's table (issue #4): 20 columns, 10 numeric and 10 categorical, all compared. */
import { parseSynthSpec, type SynthSpec } from '../activities/synth/spec';

export function qaBenchmarkSpec(rows: number): SynthSpec {
  const numeric = Array.from({ length: 10 }, (_, i) =>
    i % 2 === 0
      ? { name: `n${i}`, type: 'numeric', distribution: 'normal', mean: 50 + i, sd: 10, min: 0, max: 120, precision: 2, missing: 0.01 }
      : { name: `n${i}`, type: 'numeric', kind: 'integer', min: 0, max: 100 + i },
  );
  const categorical = Array.from({ length: 10 }, (_, i) => ({
    name: `c${i}`,
    type: 'categorical',
    values: Object.fromEntries(Array.from({ length: 3 + (i % 5) }, (_, k) => [`option_${k}`, 1 / (3 + (i % 5))])),
    missing: i % 3 === 0 ? 0.02 : 0,
  }));
  return parseSynthSpec({ name: 'qa-bench', seed: 99, tables: [{ name: 'dataset', rows, columns: [...numeric, ...categorical] }] });
}
