/**
 * `npm run bench:series`: a 12-period weekly series of 200,000 rows per period, generated through the
 * Temporal pipeline on a dev server (a generate-series stage: a child workflow, one activity per period)
 * and by calling the same functions in-process. In the in-process run each period is followed by a
 * one-shot generation of the same table (same columns and rows, written as generate-synthetic writes
 * it), so the two rates are measured interleaved, under the same load. Rates are per core: rows per
 * second of the process's CPU time (all its threads), which other processes on the machine do not
 * inflate as they do wall time; the wall-time ratio is printed too. Last line:
 * `series wall_s=<n> inprocess_s=<n> overhead_pct=<n> period_rows_per_s=<n> oneshot_rows_per_s=<n>
 * period_vs_oneshot=<ratio> target=0.60`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { NativeConnection } from '@temporalio/worker';
import { stringify as toYaml } from 'yaml';

import { createPipelineLogger } from '../activities/runs/run-log';
import { writeTableFile } from '../activities/synth/generate';
import { loadSeries, runSeriesPeriod } from '../activities/synth/generate-series';
import { parseSynthSpec } from '../activities/synth/spec';
import { connectClient, startPipelineRun } from '../client/pipeline-client';
import { pipelineDataConverterFor } from '../config/data-converter';
import { parsePipelineConfig } from '../config/pipeline-config';
import { readSettings } from '../config/settings';
import { stopAllProcesses } from '../scripts/lib/processes';
import { startTemporalDevServer } from '../scripts/lib/servers';
import { createPipelineWorker, installRuntimeLogger } from '../worker/create-worker';
import { createActivityDeps } from '../worker/dependencies';

const ROWS = Number(process.env.BENCH_SERIES_ROWS ?? 200_000);
const PERIODS = Number(process.env.BENCH_SERIES_PERIODS ?? 12);

const SPEC = {
  name: 'bench-series',
  seed: 77,
  tables: [
    {
      name: 'participants',
      rows: ROWS,
      columns: [
        { name: 'participant_uuid', type: 'id', format: { kind: 'uuid', prefix: 'avf-phone-uuid-' }, primaryKey: true },
        { name: 'registered_on', type: 'date', from: '2026-01-05', to: '2026-01-11' },
        { name: 'gender', type: 'categorical', values: { female: 0.5, male: 0.5 } },
        { name: 'region', type: 'categorical', values: { North: 0.4, South: 0.3, East: 0.3 } },
        { name: 'age', type: 'numeric', kind: 'integer', distribution: 'normal', mean: 30, sd: 10, min: 14, max: 90 },
        { name: 'messages_sent', type: 'numeric', kind: 'integer', min: 0, max: 40 },
        { name: 'score', type: 'numeric', distribution: 'normal', mean: 50, sd: 12, min: 0, max: 100, precision: 2 },
        { name: 'weekly_rate', type: 'derived', expression: 'messages_sent / 7', precision: 3 },
      ],
    },
  ],
};

const STAGE = {
  stage: 'generate-series',
  spec: 'raw/specs/bench.yaml',
  series: 'bench-weekly',
  periodUnit: 'weeks',
  periods: PERIODS,
  newFraction: 0.25,
  dateColumns: ['registered_on'],
  staticColumns: ['gender', 'region'],
} as const;

function seedDataRoot(dataHome: string): void {
  mkdirSync(join(dataHome, 'bench', 'raw', 'specs'), { recursive: true });
  writeFileSync(join(dataHome, 'bench', 'raw', 'specs', 'bench.yaml'), toYaml(SPEC));
}

const TARGET = 0.6;

/** Wall and CPU seconds (user + system, all threads) of `work`. */
async function measure(work: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const wallStart = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  await work();
  const cpu = process.cpuUsage(cpuStart);
  return { wall: Number(process.hrtime.bigint() - wallStart) / 1e9, cpu: (cpu.user + cpu.system) / 1e6 };
}

interface InProcessRun {
  /** Wall seconds of the periods alone. */
  seconds: number;
  /** Periods 2 … n (those with returning entities) and the one-shot generation after each: seconds. */
  period: { wall: number; cpu: number };
  oneShot: { wall: number; cpu: number };
}

async function inProcess(dataHome: string, periods = PERIODS): Promise<InProcessRun> {
  seedDataRoot(dataHome);
  const config = parsePipelineConfig({ pipelineName: 'bench', dataRoot: 'bench', stages: [{ ...STAGE, periods }] });
  const stage = config.stages[0]! as Parameters<typeof loadSeries>[1];
  const oneShotSpec = parseSynthSpec(SPEC);
  const run: InProcessRun = { seconds: 0, period: { wall: 0, cpu: 0 }, oneShot: { wall: 0, cpu: 0 } };
  run.seconds += (await measure(() => loadSeries(join(dataHome, 'bench'), stage))).wall;
  for (let period = 1; period <= periods; period++) {
    const generated = await measure(() => runSeriesPeriod(join(dataHome, 'bench'), stage, period));
    run.seconds += generated.wall;
    const oneShotFile = join(dataHome, 'one-shot.csv');
    const oneShot = await measure(() => writeTableFile(oneShotSpec, 'participants', oneShotFile, { format: 'csv' }));
    rmSync(oneShotFile);
    // Period 1 has no returning entities; the periods after it are what a weekly run does.
    if (period === 1) continue;
    run.period.wall += generated.wall;
    run.period.cpu += generated.cpu;
    run.oneShot.wall += oneShot.wall;
    run.oneShot.cpu += oneShot.cpu;
  }
  return run;
}

async function throughTemporal(work: string, dataHome: string): Promise<number> {
  seedDataRoot(dataHome);
  const server = await startTemporalDevServer({ dbFile: join(work, 'temporal.sqlite'), logFile: join(work, 'temporal.log') });
  const settings = readSettings({ TEMPORAL_ADDRESS: server.address, PIPELINE_DATA_HOME: dataHome, PIPELINE_TASK_QUEUE: 'bench-series', LOG_LEVEL: 'warn' });
  const logger = createPipelineLogger('warn');
  installRuntimeLogger(logger);
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createPipelineWorker({
    connection,
    namespace: 'default',
    taskQueue: settings.taskQueue,
    deps: createActivityDeps(settings, logger),
    dataConverter: pipelineDataConverterFor(settings),
  });
  const client = await connectClient(settings);
  try {
    return await worker.runUntil(async () => {
      const config = parsePipelineConfig({ pipelineName: 'bench', dataRoot: 'bench', stages: [STAGE] });
      const started = process.hrtime.bigint();
      const run = await startPipelineRun(client, { config, taskQueue: settings.taskQueue });
      if (run.kind !== 'started') throw new Error('not started');
      const manifest = await run.handle.result();
      if (manifest.status !== 'succeeded') throw new Error(`run ${manifest.status}`);
      return Number(process.hrtime.bigint() - started) / 1e9;
    });
  } finally {
    await client.connection.close();
    await connection.close();
    await stopAllProcesses();
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-series-'));
  try {
    // Warm-up: the JIT compiles the generator before either measurement, so neither pays for it.
    await inProcess(join(work, 'warm-up-home'), 3);
    const wall = await throughTemporal(work, join(work, 'temporal-home'));
    const run = await inProcess(join(work, 'inprocess-home'));
    const inprocess = run.seconds;
    const overhead = ((wall - inprocess) / inprocess) * 100;
    const rows = (PERIODS - 1) * ROWS;
    const periodRate = rows / run.period.cpu;
    const oneShotRate = rows / run.oneShot.cpu;
    const ratio = periodRate / oneShotRate;
    const wallRatio = run.oneShot.wall / run.period.wall;
    console.log(`${PERIODS} weekly periods of ${ROWS.toLocaleString('en')} rows (${(PERIODS * ROWS).toLocaleString('en')} rows)`);
    console.log(`through Temporal (dev server, child workflow, one activity per period): ${wall.toFixed(2)} s`);
    console.log(`the same functions in-process:                                         ${inprocess.toFixed(2)} s`);
    console.log(`orchestration overhead: ${overhead.toFixed(1)} %`);
    console.log(`periods 2-${PERIODS} in-process, per core: ${Math.round(periodRate).toLocaleString('en')} rows/s (${run.period.cpu.toFixed(2)} s CPU, ${run.period.wall.toFixed(2)} s wall)`);
    console.log(`one-shot generation of the same table after each: ${Math.round(oneShotRate).toLocaleString('en')} rows/s (${run.oneShot.cpu.toFixed(2)} s CPU, ${run.oneShot.wall.toFixed(2)} s wall)`);
    console.log(`period / one-shot: ${ratio.toFixed(2)} per core (target ${TARGET.toFixed(2)}), ${wallRatio.toFixed(2)} in wall time`);
    console.log(
      `series wall_s=${wall.toFixed(2)} inprocess_s=${inprocess.toFixed(2)} overhead_pct=${overhead.toFixed(1)} period_rows_per_s=${Math.round(periodRate)} oneshot_rows_per_s=${Math.round(oneShotRate)} period_vs_oneshot=${ratio.toFixed(2)} target=${TARGET.toFixed(2)}`,
    );
  } finally {
    await stopAllProcesses();
    rmSync(work, { recursive: true, force: true });
  }
}

void main().then(() => process.exit(0));
