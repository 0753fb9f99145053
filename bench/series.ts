/**
 * `npm run bench:series`: a 12-period weekly series of 200,000 rows per period, generated through the
 * Temporal pipeline on a dev server (a generate-series stage: a child workflow, one activity per period)
 * and by calling the same functions in-process. Last line:
 * `series wall_s=<n> inprocess_s=<n> overhead_pct=<n>`.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { NativeConnection } from '@temporalio/worker';
import { stringify as toYaml } from 'yaml';

import { createPipelineLogger } from '../activities/runs/run-log';
import { loadSeries, runSeriesPeriod } from '../activities/synth/generate-series';
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

async function inProcess(dataHome: string, periods = PERIODS): Promise<number> {
  seedDataRoot(dataHome);
  const config = parsePipelineConfig({ pipelineName: 'bench', dataRoot: 'bench', stages: [{ ...STAGE, periods }] });
  const stage = config.stages[0]! as Parameters<typeof loadSeries>[1];
  const started = process.hrtime.bigint();
  await loadSeries(join(dataHome, 'bench'), stage);
  for (let period = 1; period <= periods; period++) await runSeriesPeriod(join(dataHome, 'bench'), stage, period);
  return Number(process.hrtime.bigint() - started) / 1e9;
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
    const inprocess = await inProcess(join(work, 'inprocess-home'));
    const overhead = ((wall - inprocess) / inprocess) * 100;
    console.log(`${PERIODS} weekly periods of ${ROWS.toLocaleString('en')} rows (${(PERIODS * ROWS).toLocaleString('en')} rows)`);
    console.log(`through Temporal (dev server, child workflow, one activity per period): ${wall.toFixed(2)} s`);
    console.log(`the same functions in-process:                                         ${inprocess.toFixed(2)} s`);
    console.log(`orchestration overhead: ${overhead.toFixed(1)} %`);
    console.log(`series wall_s=${wall.toFixed(2)} inprocess_s=${inprocess.toFixed(2)} overhead_pct=${overhead.toFixed(1)}`);
  } finally {
    await stopAllProcesses();
    rmSync(work, { recursive: true, force: true });
  }
}

void main().then(() => process.exit(0));
