/**
 * `npm run bench:qa`: QA (metrics, 190 pair tests) of a 1M-row, 20-column dataset on one core, in its own
 * process. Last line: `qa rows=<n> seconds=<n> peak_rss_mb=<n>`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { writeTableFile } from '../activities/synth/generate';
import { qaBenchmarkSpec } from './qa-spec';

const run = promisify(execFile);

async function main(): Promise<void> {
  const rows = Number(process.env.BENCH_QA_ROWS ?? 1_000_000);
  const folder = mkdtempSync(join(tmpdir(), 'bench-qa-'));
  try {
    const path = join(folder, 'dataset.csv');
    const written = await writeTableFile(qaBenchmarkSpec(rows), 'dataset', path, { format: 'csv' });
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(__dirname, 'qa-task.ts'), path, String(rows)]);
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { seconds: number; rows: number; pValues: number; peakRssMb: number };
    console.log(`dataset: ${rows.toLocaleString('en')} rows × 20 columns (10 numeric, 10 categorical), ${(written.bytes / 1e6).toFixed(0)} MB`);
    console.log(`QA: ${result.seconds.toFixed(2)} s (${Math.round(result.rows / result.seconds).toLocaleString('en')} rows/s), ${result.pValues} pair tests, peak RSS ${result.peakRssMb.toFixed(0)} MB`);
    console.log(`qa rows=${result.rows} seconds=${result.seconds.toFixed(2)} peak_rss_mb=${result.peakRssMb.toFixed(0)}`);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

void main();
