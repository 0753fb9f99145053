/**
 * npm run bench:compat [-- --rows N --seeds K --only spec,spec]: exhibit compatibility. Installs exhibit from PyPI into the
 * git-ignored .compat-venv, writes specs with `exhibit fromdata` from exhibit's bundled sample data (plus
 * its two bundled sample specs), imports each without edits, generates N rows (default 100,000) with
 * both tools for each of K seeds (default 5; some specs make far fewer rows than N, and one seed's
 * per-category means are then mostly noise), pools each tool's files, and prints per spec: loaded or not
 * (with the reason), the largest category-proportion difference and the largest per-category numeric mean
 * difference in sd units, each with its sampling noise (one standard error), and the speed ratio. With R
 * (Debian r-base-core, installed through apt-get when the bench runs as root), our QA's Pearson,
 * chi-square and ANOVA p-values of each generated dataset against R's (bench/r/qa-pvalues.R).
 * Not part of npm test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { parse } from 'csv-parse/sync';
import { stringify } from 'yaml';
import { parse as parseYaml } from 'yaml';

import { analyseDataset } from '../activities/qa/dataset-qa';
import { writeTableFile } from '../activities/synth/generate';
import { loadSynthSpec } from '../activities/synth/load-spec';
import { canInstallDebianPackages, installDebianPackage } from '../scripts/lib/tools';

const root = join(__dirname, '..');
const venv = join(root, '.compat-venv');
const work = join(root, 'data', 'bench-compat');
const rowsArg = process.argv.indexOf('--rows');
const rows = rowsArg > 0 ? Number(process.argv[rowsArg + 1]) : 100_000;
const onlyArg = process.argv.indexOf('--only');
/** Spec names to run (comma-separated, e.g. fromdata_prescribing,uuid_demo); all when absent. */
const only = onlyArg > 0 ? new Set(process.argv[onlyArg + 1]!.split(',').map((name) => name.replace(/\.yml$/, ''))) : undefined;
const seedsArg = process.argv.indexOf('--seeds');
/** Seeds per tool: each tool's outputs are pooled over them, shrinking the sampling noise of small tables. */
const seeds = seedsArg > 0 ? Number(process.argv[seedsArg + 1]) : 5;
const python = join(venv, 'bin', 'python');

function setup(): string {
  if (!existsSync(join(venv, 'bin', 'exhibit'))) {
    if (!existsSync(python)) execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    const pip = spawnSync(join(venv, 'bin', 'pip'), ['install', 'exhibit'], { encoding: 'utf8' });
    if (pip.status !== 0) {
      console.log(`compat: pip install exhibit failed (exit ${pip.status}):\n${pip.stderr.trim().split('\n').slice(-5).join('\n')}`);
      process.exit(1);
    }
  }
  return execFileSync(python, ['-c', 'import exhibit, os; print(os.path.dirname(exhibit.__file__))'], { encoding: 'utf8' }).trim();
}

/**
 * Statistics of one generated file: rows per category, and the count, sum and sum of squares of each
 * numeric column per category (and overall), so several seeds' files compare without holding them in memory.
 */
class Pool {
  rows = 0;
  readonly counts = new Map<string, Map<string, number>>();
  /** `${categorical}\u0000${numeric}` -> category -> [n, sum, sum of squares]. */
  readonly moments = new Map<string, Map<string, [number, number, number]>>();
  readonly overall = new Map<string, [number, number, number]>();

  constructor(
    readonly categorical: string[],
    readonly numeric: string[],
  ) {}

  add(path: string): this {
    const records = parse(readFileSync(path, 'utf8'), { comment: '#', skip_empty_lines: true }) as string[][];
    const header = records[0] ?? [];
    const at = (name: string): number => header.indexOf(name);
    const cats = this.categorical.map((name) => [name, at(name)] as const).filter(([, i]) => i >= 0);
    const nums = this.numeric.map((name) => [name, at(name)] as const).filter(([, i]) => i >= 0);
    const bump = (moments: [number, number, number], v: number): void => {
      moments[0] += 1;
      moments[1] += v;
      moments[2] += v * v;
    };
    for (let r = 1; r < records.length; r++) {
      const record = records[r]!;
      this.rows += 1;
      for (const [num, j] of nums) {
        const v = Number(record[j]);
        if (record[j] === '' || !Number.isFinite(v)) continue;
        if (!this.overall.has(num)) this.overall.set(num, [0, 0, 0]);
        bump(this.overall.get(num)!, v);
      }
      for (const [cat, i] of cats) {
        const value = record[i] ?? '';
        const counts = this.counts.get(cat) ?? this.counts.set(cat, new Map()).get(cat)!;
        counts.set(value, (counts.get(value) ?? 0) + 1);
        for (const [num, j] of nums) {
          const v = Number(record[j]);
          if (record[j] === '' || !Number.isFinite(v)) continue;
          const key = `${cat}\u0000${num}`;
          const byValue = this.moments.get(key) ?? this.moments.set(key, new Map()).get(key)!;
          const moments = byValue.get(value) ?? byValue.set(value, [0, 0, 0]).get(value)!;
          bump(moments, v);
        }
      }
    }
    return this;
  }
}

const mean = ([n, sum]: [number, number, number]): number => sum / n;
const variance = ([n, sum, squares]: [number, number, number]): number => (n > 1 ? Math.max(0, (squares - (sum * sum) / n) / (n - 1)) : 0);

interface Comparison {
  category: number;
  /** The sampling noise (one standard error) of the largest category difference. */
  categoryNoise: number;
  meanSd: number;
  meanNoise: number;
  worst: string;
  worstCategory: string;
}

/** The mean of per-seed values and its standard error: the seeds' spread, or `fallback` with one seed. */
function acrossSeeds(values: number[], fallback: number): { value: number; error: number } {
  const value = values.reduce((sum, v) => sum + v, 0) / values.length;
  if (values.length < 2) return { value, error: fallback };
  const spread = values.reduce((sum, v) => sum + (v - value) ** 2, 0) / (values.length - 1);
  return { value, error: Math.sqrt(spread / values.length) };
}

/**
 * The largest category-proportion difference and the largest per-category numeric mean difference (in
 * units of exhibit's sd of that column; categories holding at least 1 % of exhibit's rows), each with its
 * sampling noise: one standard error of the difference, from how much each tool's figure varies between
 * seeds (rows are not independent draws in every spec: a cross-joined table repeats each drawn row once per
 * date, so a formula over the row count would understate it). With one seed, the independent-rows formula.
 */
function compare(ours: Pool[], theirs: Pool[]): Comparison {
  const result: Comparison = { category: 0, categoryNoise: 0, meanSd: 0, meanNoise: 0, worst: '', worstCategory: '' };
  const rowsOf = (pools: Pool[]): number => pools.reduce((sum, pool) => sum + pool.rows, 0);
  for (const [column, theirCounts] of theirs[0]!.counts) {
    if (!ours[0]!.counts.has(column)) continue;
    const keys = new Set([...theirCounts.keys(), ...ours[0]!.counts.get(column)!.keys()]);
    for (const pool of [...ours, ...theirs]) for (const key of pool.counts.get(column)?.keys() ?? []) keys.add(key);
    for (const key of keys) {
      const shares = (pools: Pool[]): number[] => pools.map((pool) => (pool.counts.get(column)?.get(key) ?? 0) / pool.rows);
      const p = (shares(ours).reduce((x, y) => x + y, 0) + shares(theirs).reduce((x, y) => x + y, 0)) / (ours.length + theirs.length);
      const a = acrossSeeds(shares(ours), Math.sqrt((p * (1 - p)) / rowsOf(ours)));
      const b = acrossSeeds(shares(theirs), Math.sqrt((p * (1 - p)) / rowsOf(theirs)));
      if (Math.abs(a.value - b.value) > result.category) {
        result.category = Math.abs(a.value - b.value);
        result.categoryNoise = Math.hypot(a.error, b.error);
        result.worstCategory = `${column}=${key}: ours ${a.value.toFixed(4)}, exhibit ${b.value.toFixed(4)}`;
      }
    }
  }
  for (const key of theirs[0]!.moments.keys()) {
    const [column, numeric] = key.split('\u0000') as [string, string];
    const totals = theirs.map((pool) => pool.overall.get(numeric)).filter((total) => total !== undefined);
    if (!ours[0]!.moments.has(key) || totals.length === 0) continue;
    const sd = Math.sqrt(totals.reduce((sum, total) => sum + variance(total), 0) / totals.length) || 1;
    for (const value of theirs[0]!.moments.get(key)!.keys()) {
      if ((theirs[0]!.counts.get(column)?.get(value) ?? 0) / theirs[0]!.rows < 0.01) continue;
      const moments = (pools: Pool[]): Array<[number, number, number]> => pools.map((pool) => pool.moments.get(key)?.get(value)).filter((m): m is [number, number, number] => m !== undefined && m[0] > 0);
      const ourMoments = moments(ours);
      const theirMoments = moments(theirs);
      if (ourMoments.length === 0 || theirMoments.length === 0) continue;
      const independent = (list: Array<[number, number, number]>): number => Math.sqrt(list.reduce((sum, m) => sum + variance(m) / m[0], 0)) / list.length;
      const a = acrossSeeds(ourMoments.map(mean), independent(ourMoments));
      const b = acrossSeeds(theirMoments.map(mean), independent(theirMoments));
      const diff = Math.abs(a.value - b.value) / sd;
      if (diff > result.meanSd) {
        result.meanSd = diff;
        result.meanNoise = Math.hypot(a.error, b.error) / sd;
        result.worst = `${numeric} by ${column}=${value}`;
      }
    }
  }
  return result;
}

const RSCRIPT = '/usr/bin/Rscript';

/** Installs Debian's r-base-core when the bench runs as root with apt-get (CI's case); else R is optional. */
function ensureR(): boolean {
  if (existsSync(RSCRIPT)) return true;
  if (!canInstallDebianPackages()) return false;
  console.log('compat: installing Debian r-base-core (apt-get) for the p-value comparison');
  installDebianPackage('r-base-core');
  return existsSync(RSCRIPT);
}

/**
 * Our QA's Pearson, chi-square and ANOVA p-values of a generated file against R's (bench/r/qa-pvalues.R,
 * written for this bench): the largest absolute difference, and how many pairs were compared.
 */
async function compareWithR(path: string, table: Parameters<typeof analyseDataset>[1]): Promise<{ maxDiff: number; pairs: number; worst: string }> {
  const qa = await analyseDataset(path, table, ',');
  const r = spawnSync(RSCRIPT, [join(__dirname, 'r', 'qa-pvalues.R'), path, qa.compared.numeric.join(','), qa.compared.categorical.join(',')], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`Rscript failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
  const theirs = parse(r.stdout, { columns: true }) as Array<{ column_1: string; column_2: string; test: string; p_value: string }>;
  const byKey = new Map(theirs.map((row) => [`${row.column_1}|${row.column_2}|${row.test}`, row.p_value === 'NA' ? NaN : Number(row.p_value)]));
  let maxDiff = 0;
  let pairs = 0;
  let worst = '';
  for (const ours of qa.corr_p_values) {
    const expected = byKey.get(`${ours.Comparison_column_1}|${ours.Comparison_column_2}|${ours.test}`);
    if (expected === undefined || !Number.isFinite(expected) || !Number.isFinite(ours.p_value)) continue;
    pairs += 1;
    const diff = Math.abs(expected - ours.p_value);
    if (diff >= maxDiff) {
      maxDiff = diff;
      worst = `${ours.test} ${ours.Comparison_column_1}/${ours.Comparison_column_2}: ours ${ours.p_value}, R ${expected}`;
    }
  }
  return { maxDiff, pairs, worst };
}

async function main(): Promise<void> {
  const exhibitDir = setup();
  mkdirSync(work, { recursive: true });
  const specs: string[] = [];
  for (const file of readdirSync(join(exhibitDir, 'sample', '_spec')).filter((f) => f.endsWith('.yml'))) {
    copyFileSync(join(exhibitDir, 'sample', '_spec', file), join(work, file));
    specs.push(join(work, file));
  }
  for (const file of readdirSync(join(exhibitDir, 'sample', '_data')).filter((f) => f.endsWith('.csv'))) {
    const out = join(work, `fromdata_${file.replace(/\.csv$/, '')}.yml`);
    execFileSync(join(venv, 'bin', 'exhibit'), ['fromdata', join(exhibitDir, 'sample', '_data', file), '-o', out], { stdio: 'ignore' });
    specs.push(out);
  }
  const anonDb = join(exhibitDir, 'db', 'exhibit.db');
  const withR = ensureR();
  let rMaxDiff = 0;
  let loaded = 0;
  let maxCategory = 0;
  let maxMean = 0;
  let maxMeanNoise = 0;
  let columnOrderMismatches = 0;
  const ratios: number[] = [];
  for (const path of specs) {
    const name = path.split('/').pop()!;
    if (only && !only.has(name.replace(/\.yml$/, ''))) continue;
    // Both tools get the spec with number_of_rows = N (exhibit's target_sum is a total over the rows), once per seed.
    const document = parseYaml(readFileSync(path, 'utf8'), { version: '1.1' }) as { metadata: { number_of_rows: number; random_seed: number } };
    document.metadata.number_of_rows = rows;
    const oursPools: Pool[] = [];
    const theirsPools: Pool[] = [];
    let oursSeconds = 0;
    let theirSeconds = 0;
    let table;
    let lastOurs = '';
    let failed = false;
    for (let seed = 0; seed < seeds && !failed; seed++) {
      document.metadata.random_seed = seed;
      const theirSpec = join(work, `${name}.seed${seed}.yml`);
      writeFileSync(theirSpec, stringify(document, { version: '1.1' }));
      let spec;
      try {
        ({ spec } = await loadSynthSpec(theirSpec, 'exhibit', { anonDb }));
      } catch (err) {
        console.log(`${name}: not accepted: ${(err as Error).message.replace(/\n/g, ' ')}`);
        failed = true;
        break;
      }
      if (seed === 0) loaded += 1;
      table = spec.tables[0]!;
      const categorical = table.columns.filter((c) => c.type === 'categorical' || c.type === 'paired').map((c) => c.name);
      const numeric = table.columns.filter((c) => c.type === 'numeric').map((c) => c.name);
      const ours = join(work, `${name}.seed${seed}.ours.csv`);
      let t = performance.now();
      await writeTableFile(spec, table.name, ours, { format: 'csv' });
      oursSeconds += (performance.now() - t) / 1000;
      const theirs = join(work, `${name}.seed${seed}.exhibit.csv`);
      t = performance.now();
      const run = spawnSync(join(venv, 'bin', 'exhibit'), ['fromspec', theirSpec, '-o', theirs], { encoding: 'utf8', cwd: work });
      theirSeconds += (performance.now() - t) / 1000;
      if (run.status !== 0) {
        console.log(`${name}: accepted; exhibit fromspec failed: ${run.stderr.trim().split('\n').slice(-1)[0]}`);
        failed = true;
        break;
      }
      oursPools.push(new Pool(categorical, numeric).add(ours));
      theirsPools.push(new Pool(categorical, numeric).add(theirs));
      lastOurs = ours;
    }
    if (failed || oursPools.length === 0 || !table) continue;
    const header = (file: string): string => {
      // The first line only: the files run to hundreds of MB.
      const buffer = Buffer.alloc(64 * 1024);
      const fd = openSync(file, 'r');
      try {
        return buffer.toString('utf8', 0, readSync(fd, buffer, 0, buffer.length, 0)).split('\n', 1)[0]!;
      } finally {
        closeSync(fd);
      }
    };
    const sameOrder = header(join(work, `${name}.seed0.ours.csv`)) === header(join(work, `${name}.seed0.exhibit.csv`));
    if (!sameOrder) columnOrderMismatches += 1;
    const c = compare(oursPools, theirsPools);
    const rowsOf = (pools: Pool[]): number => pools.reduce((sum, pool) => sum + pool.rows, 0);
    maxCategory = Math.max(maxCategory, c.category);
    if (c.meanSd >= maxMean) {
      maxMean = c.meanSd;
      maxMeanNoise = c.meanNoise;
    }
    ratios.push(theirSeconds / oursSeconds);
    console.log(
      `${name}: accepted; columns ${sameOrder ? 'in' : 'NOT in'} exhibit's order; ${seeds} seed(s), ${rowsOf(oursPools)} rows ours, ${rowsOf(theirsPools)} exhibit's; ` +
        `max category diff ${c.category.toFixed(4)} (noise ±${c.categoryNoise.toFixed(4)}${c.worstCategory ? `, ${c.worstCategory}` : ''}); ` +
        `max per-category mean diff ${c.meanSd.toFixed(4)} sd (noise ±${c.meanNoise.toFixed(4)}${c.worst ? `, ${c.worst}` : ''}); ` +
        `speed ${(theirSeconds / oursSeconds).toFixed(1)}× (exhibit ${theirSeconds.toFixed(1)} s, ours ${oursSeconds.toFixed(2)} s)`,
    );
    if (withR) {
      const r = await compareWithR(lastOurs, table);
      rMaxDiff = Math.max(rMaxDiff, r.maxDiff);
      console.log(`${name}: p-values of ${r.pairs} pairs against R: largest difference ${r.maxDiff.toExponential(2)}${r.pairs ? ` (${r.worst})` : ''}`);
    }
  }
  const ratio = ratios.length ? Math.min(...ratios) : NaN;
  console.log(`compat exhibit_specs=${specs.length} loaded=${loaded} max_category_diff=${maxCategory.toFixed(4)} max_mean_diff_sd=${maxMean.toFixed(4)} mean_diff_noise_sd=${maxMeanNoise.toFixed(4)} column_order_mismatches=${columnOrderMismatches} speed_ratio=${ratio.toFixed(1)} r_max_p_diff=${withR ? rMaxDiff.toExponential(2) : 'no-R'}`);
}

void main();
