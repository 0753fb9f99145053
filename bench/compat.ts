/**
 * npm run bench:compat [-- --rows N]: exhibit compatibility. Installs exhibit from PyPI into the
 * git-ignored .compat-venv, writes specs with `exhibit fromdata` from exhibit's bundled sample data (plus
 * its two bundled sample specs), imports each without edits, generates N rows (default 100,000) with
 * both tools, and prints per spec: loaded or not (with the reason), the largest category-proportion
 * difference, the largest per-category numeric mean difference in sd units, and the speed ratio. With R
 * (Debian r-base-core, installed through apt-get when the bench runs as root), our QA's Pearson,
 * chi-square and ANOVA p-values of each generated dataset against R's (bench/r/qa-pvalues.R).
 * Not part of npm test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
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

type Rows = Array<Record<string, string>>;
const read = (path: string): Rows => parse(readFileSync(path, 'utf8'), { columns: true, comment: '#', skip_empty_lines: true }) as Rows;

function compare(ours: Rows, theirs: Rows, categorical: string[], numeric: string[]): { category: number; meanSd: number } {
  let category = 0;
  let meanSd = 0;
  const share = (data: Rows, column: string): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const row of data) counts.set(row[column] ?? '', (counts.get(row[column] ?? '') ?? 0) + 1);
    return new Map([...counts].map(([k, v]) => [k, v / data.length]));
  };
  for (const column of categorical) {
    if (!(column in (ours[0] ?? {})) || !(column in (theirs[0] ?? {}))) continue;
    const a = share(ours, column);
    const b = share(theirs, column);
    for (const key of new Set([...a.keys(), ...b.keys()])) category = Math.max(category, Math.abs((a.get(key) ?? 0) - (b.get(key) ?? 0)));
    for (const num of numeric) {
      if (!(num in (ours[0] ?? {})) || !(num in (theirs[0] ?? {}))) continue;
      const values = theirs.map((row) => Number(row[num])).filter((v) => row_ok(v));
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, values.length - 1)) || 1;
      const byCategory = (data: Rows): Map<string, number> => {
        const sums = new Map<string, [number, number]>();
        for (const row of data) {
          const v = Number(row[num]);
          if (row[num] === '' || !row_ok(v)) continue;
          const entry = sums.get(row[column] ?? '') ?? [0, 0];
          sums.set(row[column] ?? '', [entry[0] + v, entry[1] + 1]);
        }
        return new Map([...sums].map(([k, [s, n]]) => [k, s / n]));
      };
      const ma = byCategory(ours);
      const mb = byCategory(theirs);
      for (const [key, value] of mb) if (ma.has(key) && (b.get(key) ?? 0) >= 0.01) meanSd = Math.max(meanSd, Math.abs(value - ma.get(key)!) / sd);
    }
  }
  return { category, meanSd };
}
const row_ok = (v: number): boolean => Number.isFinite(v);

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
  const ratios: number[] = [];
  for (const path of specs) {
    const name = path.split('/').pop()!;
    // Both tools get the spec with number_of_rows = N (exhibit's target_sum is a total over the rows).
    const document = parseYaml(readFileSync(path, 'utf8'), { version: '1.1' }) as { metadata: { number_of_rows: number } };
    document.metadata.number_of_rows = rows;
    const theirSpec = join(work, `${name}.rows.yml`);
    writeFileSync(theirSpec, stringify(document, { version: '1.1' }));
    let spec;
    try {
      ({ spec } = await loadSynthSpec(theirSpec, 'exhibit', { anonDb }));
      loaded += 1;
    } catch (err) {
      console.log(`${name}: not accepted: ${(err as Error).message.replace(/\n/g, ' ')}`);
      continue;
    }
    const ours = join(work, `${name}.ours.csv`);
    let t = performance.now();
    await writeTableFile(spec, spec.tables[0]!.name, ours, { format: 'csv' });
    const oursSeconds = (performance.now() - t) / 1000;
    const theirs = join(work, `${name}.exhibit.csv`);
    t = performance.now();
    const run = spawnSync(join(venv, 'bin', 'exhibit'), ['fromspec', theirSpec, '-o', theirs], { encoding: 'utf8', cwd: work });
    const theirSeconds = (performance.now() - t) / 1000;
    if (run.status !== 0) {
      console.log(`${name}: accepted; exhibit fromspec failed: ${run.stderr.trim().split('\n').slice(-1)[0]}`);
      continue;
    }
    const table = spec.tables[0]!;
    const categorical = table.columns.filter((c) => c.type === 'categorical' || c.type === 'paired').map((c) => c.name);
    const numeric = table.columns.filter((c) => c.type === 'numeric').map((c) => c.name);
    const { category, meanSd } = compare(read(ours), read(theirs), categorical, numeric);
    maxCategory = Math.max(maxCategory, category);
    maxMean = Math.max(maxMean, meanSd);
    ratios.push(theirSeconds / oursSeconds);
    console.log(`${name}: accepted; max category diff ${category.toFixed(4)}; max per-category mean diff ${meanSd.toFixed(4)} sd; speed ${(theirSeconds / oursSeconds).toFixed(1)}× (exhibit ${theirSeconds.toFixed(1)} s, ours ${oursSeconds.toFixed(2)} s)`);
    if (withR) {
      const r = await compareWithR(ours, table);
      rMaxDiff = Math.max(rMaxDiff, r.maxDiff);
      console.log(`${name}: p-values of ${r.pairs} pairs against R: largest difference ${r.maxDiff.toExponential(2)}${r.pairs ? ` (${r.worst})` : ''}`);
    }
  }
  const ratio = ratios.length ? Math.min(...ratios) : NaN;
  console.log(`compat exhibit_specs=${specs.length} loaded=${loaded} max_category_diff=${maxCategory.toFixed(4)} max_mean_diff_sd=${maxMean.toFixed(4)} speed_ratio=${ratio.toFixed(1)} r_max_p_diff=${withR ? rMaxDiff.toExponential(2) : 'no-R'}`);
}

void main();
