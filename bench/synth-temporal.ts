/**
 * bench:synth's Temporal part: the generate-synthetic stage of a pipeline run on a dev server, the same
 * table served by 1 worker process and by 2 (separate processes, one task queue), each timed from the
 * run's start to its end (plan, shards, join, summary). Each configuration runs twice and its best time
 * counts, the machine being shared. Every process started here (server, workers) is stopped on every
 * exit path (scripts/lib/processes.ts).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { Client } from '@temporalio/client';

import type { RunManifest } from '../activities/runs/types';
import { connectClient, startPipelineRun } from '../client/pipeline-client';
import { parsePipelineConfig } from '../config/pipeline-config';
import { readSettings } from '../config/settings';
import { type ManagedProcess, startProcess, waitUntil } from '../scripts/lib/processes';
import { startTemporalDevServer } from '../scripts/lib/servers';
import { PROJECT_ROOT } from '../scripts/lib/tools';
import { benchmarkSpec } from './synth-spec';

export interface TemporalMeasurement {
  rows: number;
  shards: number;
  oneWorkerSeconds: number[];
  twoWorkersSeconds: number[];
  /** Shards each worker process ran, per timed run with 2 workers (from the child workflow's history). */
  twoWorkersShares: number[][];
  speedup: number;
  /** Each timed run's phases (seconds), with its worker count. */
  runPhases: Array<{ workers: number; seconds: number; plan: number; shards: number; join: number; finish: number }>;
  /** Bytes a run writes to the disk: every table, and the big table's parts before they are joined. */
  bytesWritten: number;
}

/** The CSV files under a folder, and the largest one's size. */
function tableBytes(folder: string): { total: number; largest: number } {
  let total = 0;
  let largest = 0;
  for (const entry of readdirSync(folder, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.csv')) continue;
    const size = statSync(join(entry.parentPath, entry.name)).size;
    total += size;
    largest = Math.max(largest, size);
  }
  return { total, largest };
}

/**
 * Where a generate-synthetic child workflow's time went, from its history: from its start to the first
 * shard's start (plan), to the last shard's end (shards), to the last join's end (join), to its end.
 */
type HistoryEvents = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>;

function phases(events: HistoryEvents): { plan: number; shards: number; join: number; finish: number } {
  const at = (event: (typeof events)[number]): number => Number(event.eventTime!.seconds) + (event.eventTime!.nanos ?? 0) / 1e9;
  const typeOf = new Map(events.filter((event) => event.activityTaskScheduledEventAttributes).map((event) => [Number(event.eventId), event.activityTaskScheduledEventAttributes!.activityType!.name!]));
  let firstShardStart = Infinity;
  let lastShardEnd = 0;
  let lastJoinEnd = 0;
  for (const event of events) {
    const started = event.activityTaskStartedEventAttributes;
    if (started && typeOf.get(Number(started.scheduledEventId)) === 'generateSyntheticShard') firstShardStart = Math.min(firstShardStart, at(event));
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed) {
      const type = typeOf.get(Number(completed.scheduledEventId));
      if (type === 'generateSyntheticShard') lastShardEnd = Math.max(lastShardEnd, at(event));
      if (type === 'concatSyntheticTable' || type === 'joinSyntheticShardsAsTheyFinish') lastJoinEnd = Math.max(lastJoinEnd, at(event));
    }
  }
  const start = at(events[0]!);
  const end = at(events[events.length - 1]!);
  return { plan: firstShardStart - start, shards: lastShardEnd - firstShardStart, join: lastJoinEnd - lastShardEnd, finish: end - lastJoinEnd };
}

/** How many shard activities each worker (identity) started in a generate-synthetic child workflow. */
function shardsPerWorker(events: HistoryEvents): number[] {
  const typeOf = new Map(events.filter((event) => event.activityTaskScheduledEventAttributes).map((event) => [Number(event.eventId), event.activityTaskScheduledEventAttributes!.activityType!.name!]));
  const counts = new Map<string, number>();
  for (const event of events) {
    const started = event.activityTaskStartedEventAttributes;
    if (started && typeOf.get(Number(started.scheduledEventId)) === 'generateSyntheticShard') counts.set(started.identity!, (counts.get(started.identity!) ?? 0) + 1);
  }
  return [...counts.values()].sort((a, b) => b - a);
}

async function startWorkers(count: number, work: string, env: NodeJS.ProcessEnv, label: string): Promise<ManagedProcess[]> {
  const workers: ManagedProcess[] = [];
  for (let index = 0; index < count; index++) {
    const logFile = join(work, `${label}-worker-${index}.log`);
    writeFileSync(logFile, '');
    const worker = startProcess(`worker ${index}`, process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'worker', 'main.ts')], logFile, env);
    workers.push(worker);
  }
  for (const worker of workers) await waitUntil(worker.name, async () => Promise.resolve(readFileSync(worker.logFile, 'utf8').includes('"msg":"worker started"')), 120_000, worker);
  return workers;
}

export async function measureThroughTemporal(work: string, rows: number): Promise<TemporalMeasurement> {
  const dataHome = join(work, 'temporal-home');
  await mkdir(join(dataHome, 'bench', 'raw', 'specs'), { recursive: true });
  writeFileSync(join(dataHome, 'bench', 'raw', 'specs', 'bench.json'), JSON.stringify(benchmarkSpec(rows)));
  const server = await startTemporalDevServer({ dbFile: join(work, 'temporal.sqlite'), logFile: join(work, 'temporal.log') });
  // One key for the workers and the client, as on a real deployment (each process would otherwise make its own).
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: server.address,
    PIPELINE_DATA_HOME: dataHome,
    PIPELINE_TASK_QUEUE: 'bench-synth',
    PIPELINE_BLOB_STORE: 'local',
    PIPELINE_ENCRYPTION_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    // info: the worker says when it serves the task queue.
    LOG_LEVEL: 'info',
  };
  const settings = readSettings(env);
  const client = await connectClient(settings);
  // Eight shards of the big table: enough for two workers to share evenly.
  const shardRows = Math.max(1000, Math.ceil(rows / 8));
  const shares: number[][] = [];
  let bytesWritten = 0;
  let lastPhases = { plan: 0, shards: 0, join: 0, finish: 0 };
  const runPhases: TemporalMeasurement['runPhases'] = [];
  const timeOneRun = async (): Promise<number> => {
    const config = parsePipelineConfig({ pipelineName: 'bench', dataRoot: 'bench', stages: [{ stage: 'generate-synthetic', spec: 'raw/specs/bench.json', shardRows }] });
    const started = process.hrtime.bigint();
    // overwrite: every run generates, instead of reusing the previous run's tables.
    const run = await startPipelineRun(client, { config, taskQueue: settings.taskQueue, overwrite: true });
    if (run.kind !== 'started') throw new Error('not started');
    const manifest = (await run.handle.result()) as RunManifest;
    if (manifest.status !== 'succeeded') throw new Error(`run ${manifest.status}`);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const { events } = await client.workflow.getHandle(`${run.workflowId}-generate-synthetic`).fetchHistory();
    shares.push(shardsPerWorker(events!));
    lastPhases = phases(events!);
    const sizes = tableBytes(join(dataHome, 'bench', 'synth'));
    bytesWritten = sizes.total + sizes.largest;
    // Each run writes its own copy of the tables; only one at a time stays on the disk.
    rmSync(join(dataHome, 'bench', 'synth'), { recursive: true, force: true });
    return seconds;
  };
  const timeWith = async (count: number, label: string): Promise<number[]> => {
    const workers = await startWorkers(count, work, env, label);
    try {
      // A small warm-up run first, so neither configuration pays for the JIT or the workflow bundle's first load.
      await timeOneRun();
      const seconds: number[] = [];
      for (let run = 0; run < 2; run++) {
        seconds.push(await timeOneRun());
        runPhases.push({ workers: count, seconds: seconds[run]!, ...lastPhases });
      }
      return seconds;
    } finally {
      for (const worker of workers) await worker.stop();
    }
  };
  try {
    const oneWorkerSeconds = await timeWith(1, 'one');
    const twoWorkersSeconds = await timeWith(2, 'two');
    return {
      rows,
      shards: Math.ceil(rows / shardRows),
      oneWorkerSeconds,
      twoWorkersSeconds,
      twoWorkersShares: shares.slice(-2),
      speedup: Math.min(...oneWorkerSeconds) / Math.min(...twoWorkersSeconds),
      bytesWritten,
      runPhases,
    };
  } finally {
    await client.connection.close();
    await server.process.stop();
  }
}
