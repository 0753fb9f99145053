/**
 * `npm run bench:synth`: the synthetic data engine's figures (issue #3).
 * For 1M and 10M rows of the 10-column mixed table: generation to a CSV file on one core (rows/s, peak
 * RSS), the serialisation ceiling (the same rows precomputed, written by csv-stringify and by our
 * writer), the ratio between them, and the speed-up of two worker processes each generating half:
 * to durable files (each fsynced, so the shared disk is part of it) and without files (generation and
 * CSV bytes only, the engine's own scaling, which is the shard2_speedup of the last line).
 * Then the generate-synthetic stage through Temporal (a dev server, 4M rows in shards) with 1 worker process
 * and with 2 (bench/synth-temporal.ts): the speed-up is temporal_2workers_speedup (target 1.8 on 2 cores),
 * against its peers measured in the same run: files2_speedup (two plain processes writing fsynced files)
 * and the disk's own write rate with two writers, of which the 2-worker run's write rate is a share.
 * The last line is `synth rows_per_s=… ceiling_rows_per_s=… peak_rss_mb=… shard2_speedup=… temporal_2workers_speedup=…
 * files2_speedup=… disk_mb_per_s=… temporal_2workers_disk_share=…`
 * (10M rows; BENCH_SYNTH_ROWS and BENCH_SYNTH_TEMPORAL_ROWS change the sizes).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';

import { stopAllProcesses } from '../scripts/lib/processes';
import { measureThroughTemporal } from './synth-temporal';

const run = promisify(execFile);
const TASK = join(__dirname, 'synth-task.ts');

interface Measurement {
  seconds: number;
  rows: number;
  bytes: number;
  peakRssMb: number;
}

async function task(...args: Array<string | number>): Promise<Measurement> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', TASK, ...args.map(String)], { maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Measurement;
}

const rate = (m: Measurement): number => Math.round(m.rows / m.seconds);

/**
 * The disk's own ceiling: MB/s that two concurrent writers reach writing `megabytes` in 1 MiB blocks,
 * then fsync, as the stage's shards do. Generation through Temporal cannot write faster than this.
 */
async function diskWriteMegabytesPerSecond(folder: string, megabytes: number): Promise<number> {
  const block = randomBytes(1 << 20);
  const started = process.hrtime.bigint();
  await Promise.all(
    [0, 1].map(async (writer) => {
      const handle = await open(join(folder, `disk-${writer}.bin`), 'w');
      try {
        for (let i = 0; i < megabytes / 2; i++) await handle.write(block);
        await handle.sync();
      } finally {
        await handle.close();
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  for (const writer of [0, 1]) rmSync(join(folder, `disk-${writer}.bin`), { force: true });
  return (megabytes * (1 << 20)) / 1e6 / seconds;
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_SYNTH_ROWS ?? '1000000,10000000').split(',').map(Number);
  const folder = mkdtempSync(join(tmpdir(), 'bench-synth-'));
  let last = '';
  let filesSpeedup = NaN;
  try {
    for (const rows of sizes) {
      const whole = await task('generate', rows, 0, rows, join(folder, 'whole.csv'));
      const stringifyCeiling = await task('ceiling', rows, join(folder, 'ceiling-stringify.csv'), 'csv-stringify');
      const joinerCeiling = await task('ceiling', rows, join(folder, 'ceiling-joiner.csv'), 'joiner');
      const ceiling = Math.max(rate(stringifyCeiling), rate(joinerCeiling));

      // Two worker processes, each generating half; the shards are then one file, as in a pipeline.
      const half = Math.floor(rows / 2);
      const shardStart = process.hrtime.bigint();
      const shards = await Promise.all([
        task('generate', rows, 0, half, join(folder, 'part-0.csv')),
        task('generate', rows, half, rows, join(folder, 'part-1.csv')),
      ]);
      const shardSeconds = Number(process.hrtime.bigint() - shardStart) / 1e9;
      const joined = createWriteStream(join(folder, 'joined.csv'));
      for (const part of ['part-0.csv', 'part-1.csv']) await pipeline(createReadStream(join(folder, part)), joined, { end: part === 'part-1.csv' });
      // Time of one process doing the same, measured the same way (process start included).
      const singleStart = process.hrtime.bigint();
      const single = await task('generate', rows, 0, rows, join(folder, 'single.csv'));
      const singleSeconds = Number(process.hrtime.bigint() - singleStart) / 1e9;
      // Generation time inside the processes (the slower shard against the single process); the wall
      // times with process start-up are printed too.
      const speedup = single.seconds / Math.max(...shards.map((shard) => shard.seconds));
      filesSpeedup = speedup;

      const serialShards = await Promise.all([task('serialize', rows, 0, half), task('serialize', rows, half, rows)]);
      const serialSingle = await task('serialize', rows, 0, rows);
      const engineSpeedup = serialSingle.seconds / Math.max(...serialShards.map((shard) => shard.seconds));

      console.log(`rows=${rows}`);
      console.log(`  generate to CSV, one core:     ${rate(whole).toLocaleString('en')} rows/s (${whole.seconds.toFixed(2)} s, ${(whole.bytes / 1e6).toFixed(0)} MB, peak RSS ${whole.peakRssMb.toFixed(0)} MB)`);
      console.log(`  ceiling, csv-stringify:        ${rate(stringifyCeiling).toLocaleString('en')} rows/s (peak RSS ${stringifyCeiling.peakRssMb.toFixed(0)} MB)`);
      console.log(`  ceiling, our writer:           ${rate(joinerCeiling).toLocaleString('en')} rows/s (peak RSS ${joinerCeiling.peakRssMb.toFixed(0)} MB)`);
      console.log(`  generation / best ceiling:     ${(rate(whole) / ceiling).toFixed(2)}`);
      console.log(`  our writer / csv-stringify:    ${(rate(joinerCeiling) / rate(stringifyCeiling)).toFixed(2)}`);
      console.log(`  two processes, to files:       ${Math.max(...shards.map((shard) => shard.seconds)).toFixed(2)} s vs one process ${single.seconds.toFixed(2)} s: speed-up ${speedup.toFixed(2)}x (wall, with process start: ${shardSeconds.toFixed(2)} s vs ${singleSeconds.toFixed(2)} s)`);
      console.log(`  two processes, no files:       ${Math.max(...serialShards.map((shard) => shard.seconds)).toFixed(2)} s vs one process ${serialSingle.seconds.toFixed(2)} s (${rate(serialSingle).toLocaleString('en')} rows/s): speed-up ${engineSpeedup.toFixed(2)}x`);
      last = `synth rows_per_s=${rate(whole)} ceiling_rows_per_s=${ceiling} peak_rss_mb=${whole.peakRssMb.toFixed(0)} shard2_speedup=${engineSpeedup.toFixed(2)}`;
      rmSync(join(folder, 'whole.csv'), { force: true });
      for (const name of ['ceiling-stringify.csv', 'ceiling-joiner.csv', 'part-0.csv', 'part-1.csv', 'joined.csv', 'single.csv']) rmSync(join(folder, name), { force: true });
    }
    const temporalRows = Number(process.env.BENCH_SYNTH_TEMPORAL_ROWS ?? 4_000_000);
    const temporal = await measureThroughTemporal(folder, temporalRows);
    const seconds = (values: number[]) => values.map((value) => value.toFixed(2)).join(' s, ');
    console.log(`generate-synthetic through Temporal (dev server), ${temporalRows.toLocaleString('en')} rows in ${temporal.shards} shards (+ the 10 % participants table):`);
    console.log(`  1 worker process:   ${seconds(temporal.oneWorkerSeconds)} s`);
    console.log(`  2 worker processes: ${seconds(temporal.twoWorkersSeconds)} s`);
    for (const run of temporal.runPhases) {
      console.log(`  ${run.workers} worker(s), ${run.seconds.toFixed(2)} s: plan ${run.plan.toFixed(2)} s, shards ${run.shards.toFixed(2)} s, join ${run.join.toFixed(2)} s, summary ${run.finish.toFixed(2)} s`);
    }
    console.log(`  speed-up (best of each): ${temporal.speedup.toFixed(2)}x (target 1.8)`);
    // What bounds the speed-up here: the disk. Each run writes its tables and the big table's parts.
    const disk = await diskWriteMegabytesPerSecond(folder, 1024);
    const megabytes = temporal.bytesWritten / 1e6;
    const twoWorkersWrite = megabytes / Math.min(...temporal.twoWorkersSeconds);
    console.log(`  disk: two writers reach ${disk.toFixed(0)} MB/s (fsynced); a run writes ${megabytes.toFixed(0)} MB, at ${twoWorkersWrite.toFixed(0)} MB/s with 2 workers (${((100 * twoWorkersWrite) / disk).toFixed(0)} % of the disk's rate)`);
    last += ` temporal_2workers_speedup=${temporal.speedup.toFixed(2)} files2_speedup=${filesSpeedup.toFixed(2)} disk_mb_per_s=${disk.toFixed(0)} temporal_2workers_disk_share=${(twoWorkersWrite / disk).toFixed(2)}`;
  } finally {
    await stopAllProcesses();
    rmSync(folder, { recursive: true, force: true });
  }
  console.log(last);
}

void main().then(() => process.exit(0));
