import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { DatasetAccumulator } from '../activities/qa/accumulators';
import { analyseDataset } from '../activities/qa/dataset-qa';
import { pairTests } from '../activities/qa/output';
import { ksUniform, type TestResult } from '../activities/qa/statistics';
import { parseSynthSpec } from '../activities/synth/spec';
import { temporaryFolder } from './helpers/environment';

// Reference values: SciPy 1.17 (pearsonr; chi2_contingency with correction=False; f_oneway;
// kstest(..., 'uniform', method='exact')) on worked examples. Tolerance 1e-6 as the issue asks.
// The p-values come from the accumulators QA runs in production (DatasetAccumulator fed text cells, as
// the CSV pass feeds it), never from helpers of their own.
const TOLERANCE = 1e-6;

function close(result: TestResult, statistic: number, pValue: number): void {
  assert.ok(!('undefinedBecause' in result), JSON.stringify(result));
  if ('undefinedBecause' in result) return;
  assert.ok(Math.abs(result.statistic - statistic) < TOLERANCE, `statistic ${result.statistic} vs ${statistic}`);
  assert.ok(Math.abs(result.pValue - pValue) < TOLERANCE, `p ${result.pValue} vs ${pValue}`);
}

/** Numeric columns then categorical columns, as records of text cells ('' missing), through the production accumulator. */
function accumulate(numeric: Array<Array<number | null>>, categorical: Array<Array<string | null>> = []): DatasetAccumulator {
  const rows = (numeric[0] ?? categorical[0])!.length;
  const accumulator = new DatasetAccumulator(numeric.map((_, i) => i), categorical.map((_, c) => numeric.length + c));
  for (let r = 0; r < rows; r++) {
    accumulator.addRecord([...numeric.map((column) => (column[r] === null ? '' : String(column[r]))), ...categorical.map((column) => column[r] ?? '')]);
  }
  return accumulator;
}

const pearson = (xs: Array<number | null>, ys: Array<number | null>): TestResult => accumulate([xs, ys]).numericPairs.result(0);

/** A contingency table of counts as two categorical columns. */
function chiSquare(table: number[][]): TestResult {
  const a: string[] = [];
  const b: string[] = [];
  table.forEach((row, i) => row.forEach((count, j) => {
    for (let k = 0; k < count; k++) {
      a.push(`r${i}`);
      b.push(`c${j}`);
    }
  }));
  return accumulate([], [a, b]).categoricalPairs.result(0);
}

/** Groups of values as (group label, value) rows. */
function anova(groups: number[][]): TestResult {
  const labels = groups.flatMap((values, g) => values.map(() => `g${g}`));
  return accumulate([groups.flat()], [labels]).mixedPairs.result(0);
}

// 150 draws of U(0, 1) (NumPy default_rng(1), rounded to 6 places).
const KS_SAMPLE_150 = [0.511822, 0.950464, 0.14416, 0.948649, 0.311831, 0.423326, 0.827703, 0.409199, 0.549594, 0.027559, 0.753513, 0.538143, 0.329732, 0.788429, 0.303195, 0.453498, 0.134042, 0.403113, 0.203455, 0.262313, 0.750365, 0.280409, 0.485191, 0.980737, 0.961657, 0.72479, 0.541227, 0.276891, 0.160652, 0.969925, 0.516069, 0.115866, 0.62349, 0.776683, 0.613003, 0.917298, 0.039593, 0.528589, 0.459336, 0.06235, 0.641328, 0.852633, 0.592941, 0.260097, 0.839882, 0.509496, 0.510889, 0.75303, 0.147922, 0.819627, 0.683287, 0.787097, 0.191616, 0.802364, 0.191324, 0.081553, 0.855227, 0.861283, 0.876537, 0.47191, 0.274048, 0.007092, 0.645721, 0.719909, 0.835569, 0.281878, 0.215218, 0.639331, 0.805055, 0.963671, 0.150525, 0.482212, 0.894716, 0.422717, 0.589502, 0.024491, 0.67346, 0.919089, 0.826825, 0.88552, 0.660355, 0.245552, 0.768517, 0.211675, 0.831275, 0.062718, 0.825488, 0.164507, 0.375147, 0.316738, 0.691337, 0.178572, 0.396256, 0.005825, 0.262495, 0.421189, 0.105921, 0.63316, 0.380424, 0.725294, 0.653866, 0.431227, 0.867321, 0.632135, 0.810274, 0.341795, 0.543669, 0.196297, 0.996141, 0.243215, 0.256867, 0.07319, 0.257803, 0.763129, 0.697894, 0.128673, 0.376239, 0.420921, 0.664984, 0.455929, 0.586518, 0.839685, 0.726474, 0.365007, 0.448396, 0.3677, 0.109735, 0.203242, 0.283806, 0.314134, 0.313048, 0.5767, 0.97169, 0.774664, 0.791134, 0.759269, 0.596988, 0.917692, 0.68963, 0.500356, 0.077084, 0.488449, 0.212831, 0.132696, 0.506065, 0.785085, 0.295006, 0.768772, 0.52563, 0.149048];

describe('QA statistics (production accumulators) against SciPy reference values (1e-6)', () => {
  it("Pearson correlation: Anscombe's quartet I and a weak correlation", () => {
    close(pearson([10, 8, 13, 9, 11, 14, 6, 4, 12, 7, 5], [8.04, 6.95, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84, 4.82, 5.68]), 0.8164205163448395, 0.0021696288730788152);
    close(pearson([1.2, 2.4, 3.1, 4.8, 5.0, 6.3, 7.7, 8.1], [3.1, 2.2, 4.0, 2.9, 3.3, 2.5, 3.8, 3.0]), 0.13979145104710383, 0.7412857051318913);
  });

  it('chi-square test of independence: 2×3 and 2×2 tables', () => {
    close(chiSquare([[10, 20, 30], [6, 9, 17]]), 0.27157465150403504, 0.873028283380073);
    close(chiSquare([[12, 5], [7, 9]]), 2.4305755196815575, 0.118989205532145);
  });

  it("one-way ANOVA: SciPy's mussel shell example and a small three-group example", () => {
    close(
      anova([
        [0.0571, 0.0813, 0.0831, 0.0976, 0.0817, 0.0859, 0.0735, 0.0659, 0.0923, 0.0836],
        [0.0873, 0.0662, 0.0672, 0.0819, 0.0749, 0.0649, 0.0835, 0.0725],
        [0.0974, 0.1352, 0.0817, 0.1016, 0.0968, 0.1064, 0.105],
        [0.1033, 0.0915, 0.0781, 0.0685, 0.0677, 0.0697, 0.0764, 0.0689],
        [0.0703, 0.1026, 0.0956, 0.0973, 0.1039, 0.1045],
      ]),
      7.121019471642449,
      0.00028122423145345433,
    );
    close(anova([[4.1, 5.2, 6.0, 5.5], [5.9, 6.1, 7.3, 6.8, 7.0], [5.0, 4.4, 5.1]]), 9.216709230207952, 0.006634857746645783);
  });

  it('Kolmogorov–Smirnov test of p-values against U(0, 1), exact distribution', () => {
    close(ksUniform([0.02, 0.11, 0.18, 0.25, 0.31, 0.33, 0.47, 0.52, 0.58, 0.61, 0.66, 0.71, 0.78, 0.84, 0.91, 0.97]), 0.09499999999999997, 0.9957695848170209);
    close(ksUniform([0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.12, 0.2, 0.25, 0.4]), 0.65, 0.00011761597734374992);
    close(ksUniform(KS_SAMPLE_150), 0.04200633333333334, 0.9437882304383823);
  });

  it('reports why a test is undefined instead of a number', () => {
    assert.match((pearson([1, 2, 3, 4], [5, 5, 5, 5]) as { undefinedBecause: string }).undefinedBecause, /constant/);
    assert.match((pearson([1, 2], [3, 4]) as { undefinedBecause: string }).undefinedBecause, /only 2 rows/);
    assert.match((chiSquare([[3, 4], [0, 0]]) as { undefinedBecause: string }).undefinedBecause, /only one value/);
    assert.match((anova([[1, 2, 3]]) as { undefinedBecause: string }).undefinedBecause, /only one value/);
    assert.match((anova([[2, 2], [5, 5]]) as { undefinedBecause: string }).undefinedBecause, /constant within every group/);
  });

  it('gives the same p-values through the CSV pass of analyseDataset, with offsets that strain naive sums', async () => {
    const x = [10, 8, 13, 9, 11, 14, 6, 4, 12, 7, 5];
    const y = [8.04, 6.95, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84, 4.82, 5.68];
    const folder = await temporaryFolder('qa-statistics');
    const path = join(folder, 'anscombe.csv');
    // A large offset: the shifted sums keep the correlation exact where raw sums of squares would not.
    await writeFile(path, `# {"Date generated": "x"}\nx,y\n${x.map((v, i) => `${v + 1e9},${y[i]}`).join('\n')}\n`);
    const table = parseSynthSpec({ name: 't', tables: [{ name: 'anscombe', rows: 11, columns: [{ name: 'x', type: 'numeric', min: 0, max: 2e9 }, { name: 'y', type: 'numeric', min: 0, max: 20 }] }] }).tables[0]!;
    const qa = await analyseDataset(path, table, ',');
    assert.equal(qa.corr_p_values.length, 1);
    assert.ok(Math.abs(qa.corr_p_values[0]!.p_value - 0.0021696288730788152) < TOLERANCE);
    const direct = pairTests(['x', 'y'], [], accumulate([x, y]));
    assert.ok(Math.abs(direct.corr_p_values[0]!.p_value - 0.0021696288730788152) < TOLERANCE);
  });

  it('leaves missing cells out of each pair only', () => {
    close(pearson([10, 8, null, 13, 9, 11, 14, 6, 4, 12, 7, 5], [8.04, 6.95, 3, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84, 4.82, 5.68]), 0.8164205163448395, 0.0021696288730788152);
  });
});
