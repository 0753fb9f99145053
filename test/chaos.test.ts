/**
 * Fault tolerance, proven (issue 11, "Worker crash"): the weekly pipeline and the synthetic stages in one
 * run, served by worker processes that are killed (SIGKILL) at seeded random points inside every stage
 * and replaced. The run must complete with outputs byte-identical (sha256) to an undisturbed run of the
 * same config, run id and clock in a fresh data home at the same path (with the UUID table the disturbed
 * run made, since uuids are random); no temporary or partial file may remain; nothing may be duplicated
 * in any store (Coda, buckets, Drive, UUID table). Two undisturbed runs first time the activities.
 *
 * Replay a failure with the seed it printed: `CHAOS_SEED=<seed> npx tsx scripts/test.ts test/chaos.test.ts`.
 * A trial kills the worker running one of the stage's activities after a delay drawn from the seed as a
 * fraction of how long that activity took undisturbed, so kills land inside the work. An activity that
 * beats its kill point (the machine is shared; a retry may be quicker) is killed after its work, before
 * it reports its result: the worker waits for the test's go-ahead there, so every trial lands.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import Database from 'better-sqlite3';
import { Parser as TarParser, type ReadEntry } from 'tar';

import type { RunManifest } from '../activities/runs/types';
import { TEMP_FILE_PATTERN } from '../activities/storage/atomic-write';
import { startPipelineRun } from '../client/pipeline-client';
import { FAILURE_CONVERTER_PATH } from '../config/data-converter';
import { loadPipelineConfig } from '../config/load-config';
import { parsePipelineConfig, type PipelineConfig } from '../config/pipeline-config';
import { PROJECT_ROOT } from '../scripts/lib/tools';
import { WORKFLOWS_PATH } from '../worker/create-worker';
import { type ActivityAnnouncement, goAheadLine } from './helpers/chaos-protocol';
import { temporaryFolder, testServers } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext } from './helpers/pipeline-worker';
import { recordReliabilityFigures } from './helpers/reliability-figures';
import { seededRandom } from './helpers/seeded-random';
import { type RapidProServer, startDemoRapidProServer } from './servers/rapid-pro-server';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** Both runs have this run id and read this clock, so run-id- and date-dependent content matches. */
const RUN_ID = '20261101T060000.000Z-c4a05e0';
const CLOCK = '2026-11-01T06:00:00.000Z';
/**
 * Kills per stage: 2 (attempts 1 and 2) in each one-activity stage; generate-series runs five activities
 * (its plan, then one per period) and gets one kill in each. 10 × 2 + 5 = 25 trials, at least 20 of which
 * must happen (a trial waits while another is pending), and each must land inside an attempt.
 */
const KILLS_PER_STAGE = 2;
/** A kill lands at this fraction (drawn uniformly) of the activity's undisturbed duration. */
const KILL_POINT = { from: 0.02, to: 0.5 } as const;
/** Workers serving the disturbed run: two more are already polling when one dies. */
const WORKER_POOL = 3;

/**
 * Files of the disturbed run that may differ from the undisturbed run's, each with why. Everything else
 * under the data home must be byte-identical; these are compared in another way below.
 */
const NOT_BYTE_COMPARED: ReadonlyArray<{ pattern: RegExp; reason: string }> = [
  { pattern: /^chaos\/manifests\//, reason: 'the run record: start and end times (workflow clock) and attempts per stage' },
  { pattern: /^chaos\/logs\//, reason: 'the run log: a line per attempt with its wall-clock time and attempt number' },
  { pattern: /^chaos\/backups\/data-[^/]+\.tar\.gz(\.sha256)?$/, reason: 'the archive holds the run record and log above, and tar headers carry file mtimes: compared entry by entry instead' },
  { pattern: /^\.buckets\/demo-pipeline-logs\/runs\//, reason: 'uploads of the run log and the archive: compared with the local files they copy instead' },
  { pattern: /^\.coda-stores\//, reason: 'SQLite pages depend on write order; compared as documents instead, without the server timestamps the store sets on every write' },
  { pattern: /^\.uuid-tables\//, reason: 'SQLite pages; compared as rows instead' },
];

/** Names a crashed write leaves: our temporary files (also partial fetches), and anything named like a part or partial download. */
const LEFTOVER_NAME = /\.(part|partial|crdownload)(\.\d+)?$|\.tmp(-|$)/;


interface WorkerProcess {
  child: ChildProcess;
  pid: number;
}

interface Kill {
  key: string;
  stage: string;
  activityType: string;
  workflowId: string;
  activityId: string;
  attempt: number;
  fraction: number;
  delayMs: number;
  /** The activity beat its kill point: killed after its work, before it reported its result. */
  afterWork: boolean;
  /** Set after the run: the activity had another attempt after the killed one. */
  landed?: boolean;
}

/** Every file under `root` (relative path → sha256), not following symlinks. */
async function filesUnder(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) files.set(relative(root, path), sha256(await readFile(path)));
    }
  };
  await walk(root);
  return files;
}

/** sha256 of each file entry of a .tar.gz, by path. */
async function archiveEntries(path: string): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  await new Promise<void>((resolve, reject) => {
    const parser = new TarParser({
      onReadEntry: (entry: ReadEntry) => {
        const hash = createHash('sha256');
        entry.on('data', (chunk: Buffer) => hash.update(chunk));
        entry.on('end', () => {
          if (entry.type === 'File') entries.set(entry.path, hash.digest('hex'));
        });
      },
    });
    parser.on('end', resolve);
    parser.on('error', reject);
    readFile(path).then((data) => parser.end(data), reject);
  });
  return entries;
}

/** Server timestamps the store sets when it writes a document (messages' LastUpdated, sequence counters' updated_at): wall-clock times by design. */
const SERVER_TIMESTAMP_FIELDS = ['LastUpdated', 'updated_at'];

/** Every Coda document of a local store, server timestamps left out. */
function codaDocuments(file: string): Array<{ collection: string; id: string; data: Record<string, unknown> }> {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT collection, id, data FROM documents ORDER BY collection, id').all() as Array<{ collection: string; id: string; data: string }>).map((row) => {
      const data = JSON.parse(row.data) as Record<string, unknown>;
      for (const field of SERVER_TIMESTAMP_FIELDS) delete data[field];
      return { collection: row.collection, id: row.id, data };
    });
  } finally {
    db.close();
  }
}

function uuidMappings(file: string): Array<{ id: string; uuid: string }> {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT id, uuid FROM mappings ORDER BY id').all() as Array<{ id: string; uuid: string }>;
  } finally {
    db.close();
  }
}

/** Where two versions of a file first differ, for the failure message (text files: the line). */
async function firstDifference(path: string, expectedHome: string, actualHome: string): Promise<string> {
  const [expected, actual] = [await readFile(join(expectedHome, path)), await readFile(join(actualHome, path))];
  let at = 0;
  while (at < expected.length && at < actual.length && expected[at] === actual[at]) at++;
  const lineStart = expected.lastIndexOf(10, at - 1) + 1;
  const excerpt = (data: Buffer) => JSON.stringify(data.subarray(lineStart, Math.min(data.length, at + 80)).toString('latin1'));
  return `${path} at byte ${at}: expected ${excerpt(expected)}, got ${excerpt(actual)}`;
}

/** The last attempt of each activity of a workflow execution, by activity id (from its history). */
async function lastAttempts(handle: WorkflowHandle): Promise<Map<string, number>> {
  const history = await handle.fetchHistory();
  const activityIds = new Map<string, string>();
  const attempts = new Map<string, number>();
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled?.activityId) activityIds.set(String(event.eventId), scheduled.activityId);
    const started = event.activityTaskStartedEventAttributes;
    if (started) attempts.set(activityIds.get(String(started.scheduledEventId))!, started.attempt ?? 1);
  }
  return attempts;
}

describe('chaos: workers killed at seeded random points inside every stage', () => {
  let context: PipelineTestContext;
  let rapidPro: RapidProServer;
  let config: PipelineConfig;
  let bundlePath: string;
  /**
   * Every run uses one data home path (URIs in outputs carry it), in a fresh folder each time: the
   * calibration run's (which times the activities), then the disturbed run's, are moved aside when done;
   * the reference run's stays.
   */
  let home: string;
  let calibrationHome: string;
  let disturbedHome: string;
  const taskQueueBase = `chaos-${Date.now().toString(36)}`;
  const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : randomInt(2 ** 31);
  if (!Number.isSafeInteger(seed)) throw new Error(`CHAOS_SEED must be an integer, not ${JSON.stringify(process.env.CHAOS_SEED)}`);
  const spawned: ChildProcess[] = [];
  const figures = { kills: 0, completed: 0, identical: 0, temp_left: -1 };
  /** Temporary files retried attempts removed (their killed predecessors' half-written files), from the workers' logs. */
  let tempFilesRemovedByRetries = 0;
  /** How long each activity took in the undisturbed run, by stage, activity type and period. */
  const durations = new Map<string, number>();
  const keyOf = (line: ActivityAnnouncement) => `${line.stage}/${line.activityType}/${line.period ?? ''}`;
  const kills: Kill[] = [];
  const manifests: { reference?: RunManifest; chaos?: RunManifest } = {};

  /** A worker process on `home`'s task queue; resolves once it serves it. Its activity announcements go to `onLine`. */
  async function startWorker(phase: 'calibration' | 'chaos' | 'reference', onLine: (line: ActivityAnnouncement) => void): Promise<WorkerProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'test', 'helpers', 'chaos-worker.ts')], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: testServers.temporalAddress,
        PIPELINE_TASK_QUEUE: `${taskQueueBase}-${phase}`,
        PIPELINE_DATA_HOME: home,
        PIPELINE_BLOB_STORE: 'local',
        LOG_LEVEL: 'info',
        CHAOS_CLOCK: CLOCK,
        CHAOS_WORKFLOW_BUNDLE: bundlePath,
        CHAOS_GO_AHEAD: 'stdin',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    spawned.push(child);
    // A worker that died on its own makes a go-ahead write fail; its exit is what the test reports.
    child.stdin!.on('error', () => undefined);
    let output = '';
    let pending = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 90_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          if (line.startsWith('{"chaos":')) {
            const announcement = JSON.parse(line) as ActivityAnnouncement;
            onLine(announcement);
            // Unless onLine killed the worker there, the finished activity may report its result.
            if (announcement.chaos === 'finished' && !child.killed) child.stdin!.write(`${goAheadLine(announcement)}\n`);
          }
          else if (output.length < 100_000) output += `${line}\n`;
          if (line.includes('"event":"TempFilesOfEarlierAttemptsRemoved"')) tempFilesRemovedByRetries += (JSON.parse(line) as { removed: number }).removed;
          if (line.includes('"msg":"worker started"')) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        if (output.length < 100_000) output += chunk.toString();
      });
      child.on('exit', () => {
        clearTimeout(timer);
        reject(new Error(`worker exited early:\n${output}`));
      });
    });
    return { child, pid: child.pid! };
  }

  /** Kills a worker and waits for it to be gone. */
  async function stopWorker(worker: WorkerProcess): Promise<void> {
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) return;
    const exited = new Promise((resolve) => worker.child.once('exit', resolve));
    worker.child.kill('SIGKILL');
    await exited;
  }

  let token: string;
  async function prepareHome(): Promise<void> {
    await mkdir(join(home, '.buckets', 'demo-secrets'), { recursive: true });
    await writeFile(join(home, '.buckets', 'demo-secrets', 'rapid-pro-token.txt'), `${token}\n`);
    await cp(join(PROJECT_ROOT, 'config', 'examples', 'demo-raw'), join(home, 'chaos', 'raw'), { recursive: true });
  }

  before(async () => {
    context = await createPipelineTestContext('chaos');
    const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, logger: new DefaultLogger('WARN') });
    bundlePath = join(await temporaryFolder('chaos-bundle'), 'workflows.js');
    await writeFile(bundlePath, bundle.code);
    token = randomBytes(20).toString('hex');
    rapidPro = await startDemoRapidProServer({ token, until: new Date('2026-11-01T00:00:00Z'), activationRuns: 200, surveyRuns: 50 });
    const folder = await temporaryFolder('chaos');
    home = join(folder, 'home');
    calibrationHome = join(folder, 'calibration');
    disturbedHome = join(folder, 'disturbed');

    const weekly = await loadPipelineConfig(join(PROJECT_ROOT, 'config', 'examples', 'demo-pipeline.yaml'));
    const synthetic = await loadPipelineConfig(join(PROJECT_ROOT, 'config', 'examples', 'synthetic-pipeline.yaml'));
    const syntheticStages = synthetic.stages.filter((stage) => ['generate-synthetic', 'generate-series', 'qa'].includes(stage.stage));
    const stages = [...weekly.stages.slice(0, -2), ...syntheticStages, ...weekly.stages.slice(-2)].map((stage) => ({
      ...(stage.stage === 'fetch-sources' ? { ...stage, sources: stage.sources.map((source) => ({ ...source, baseUrl: rapidPro.baseUrl })) } : stage),
      // A killed worker is noticed after 3 s of silence, and its attempt retried at once on another.
      heartbeatTimeout: '3s',
      retry: { maximumAttempts: 20, initialInterval: '100ms', maximumInterval: '1s' },
    }));
    config = parsePipelineConfig({ ...weekly, pipelineName: 'chaos', dataRoot: 'chaos', operatorWaitLimit: '0s', coding: { ...weekly.coding!, store: { backend: 'local', name: 'chaos-coda' } }, stages });
  });
  after(async () => {
    for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rapidPro?.stop();
    await context?.close();
    await recordReliabilityFigures('chaos', figures);
  });

  /** Runs the pipeline with one worker and no kills in a fresh data home at `home`; returns its record. */
  async function runUndisturbed(phase: 'calibration' | 'reference', onLine: (line: ActivityAnnouncement) => void = () => undefined): Promise<RunManifest> {
    const worker = await startWorker(phase, onLine);
    try {
      const run = await startPipelineRun(context.client, { config, taskQueue: `${taskQueueBase}-${phase}`, runId: RUN_ID });
      assert.equal(run.kind, 'started');
      return (await (run as Extract<typeof run, { kind: 'started' }>).handle.result()) as RunManifest;
    } finally {
      await stopWorker(worker);
    }
  }

  it('runs undisturbed twice, timing every activity', { timeout: 6 * 60_000 }, async (t) => {
    // The shorter of two runs' times: a stall in one (the machine is shared) would put kill points after the work.
    for (const round of [1, 2]) {
      await prepareHome();
      const started = new Map<string, number>();
      const manifest = await runUndisturbed('calibration', (line) => {
        const id = `${line.workflowId}/${line.activityId}`;
        if (line.chaos === 'started') started.set(id, performance.now());
        else if (line.stage) durations.set(keyOf(line), Math.min(durations.get(keyOf(line)) ?? Infinity, performance.now() - started.get(id)!));
      });
      assert.equal(manifest.status, 'succeeded');
      if (round === 1) await rename(home, calibrationHome);
      else await rm(home, { recursive: true, force: true });
    }
    t.diagnostic(`undisturbed activity times (ms): ${[...durations].map(([key, ms]) => `${key}=${Math.round(ms)}`).join(' ')}`);
    for (const stage of config.stages) assert.ok([...durations.keys()].some((key) => key.startsWith(`${stage.stage}/`)), `${stage.stage} ran`);
  });

  it(`completes with the worker killed ${KILLS_PER_STAGE}× inside every stage (seeded)`, { timeout: 8 * 60_000 }, async (t) => {
    assert.ok(durations.size > 0, 'the calibration run completed');
    t.diagnostic(`chaos seed ${seed} (replay: CHAOS_SEED=${seed})`);
    await prepareHome();
    // Kills per activity of a stage: the stage's share, at least one each.
    const budget = new Map<string, number>();
    for (const stage of config.stages) {
      const keys = [...durations.keys()].filter((key) => key.startsWith(`${stage.stage}/`));
      for (const key of keys) budget.set(key, Math.max(1, Math.ceil(KILLS_PER_STAGE / keys.length)));
    }

    const random = new Map<string, () => number>();
    const randomFor = (stage: string) => {
      if (!random.has(stage)) random.set(stage, seededRandom(seed ^ Number.parseInt(sha256(stage).slice(0, 8), 16)));
      return random.get(stage)!;
    };
    const workers = new Set<WorkerProcess>();
    let pendingKill: { line: ActivityAnnouncement; fraction: number; delayMs: number; timer: NodeJS.Timeout } | undefined;
    let failure: Error | undefined;
    const replenish = () => {
      while (workers.size < WORKER_POOL) {
        const placeholder = { child: undefined as unknown as ChildProcess, pid: -1 };
        workers.add(placeholder);
        startWorker('chaos', onLine).then(
          (worker) => {
            workers.delete(placeholder);
            workers.add(worker);
          },
          (err: unknown) => {
            workers.delete(placeholder);
            failure ??= err as Error;
          },
        );
      }
    };
    const onLine = (line: ActivityAnnouncement): void => {
      const same = (other: ActivityAnnouncement) => other.pid === line.pid && other.workflowId === line.workflowId && other.activityId === line.activityId && other.attempt === line.attempt;
      const kill = (afterWork: boolean) => {
        const trial = pendingKill!;
        clearTimeout(trial.timer);
        pendingKill = undefined;
        const worker = [...workers].find((candidate) => candidate.pid === trial.line.pid);
        if (!worker) return;
        worker.child.kill('SIGKILL');
        workers.delete(worker);
        const { line: hit, fraction, delayMs } = trial;
        kills.push({ key: keyOf(hit), stage: hit.stage!, activityType: hit.activityType, workflowId: hit.workflowId, activityId: hit.activityId, attempt: hit.attempt, fraction, delayMs, afterWork });
        replenish();
      };
      if (line.chaos === 'finished') {
        // The activity beat its kill point; it is waiting for the go-ahead, so the kill still lands in its attempt.
        if (pendingKill && same(pendingKill.line)) kill(true);
        return;
      }
      if (!line.stage || pendingKill || kills.filter((hit) => hit.key === keyOf(line)).length >= (budget.get(keyOf(line)) ?? 0)) return;
      const fraction = KILL_POINT.from + (KILL_POINT.to - KILL_POINT.from) * randomFor(line.stage)();
      const delayMs = Math.round(fraction * (durations.get(keyOf(line)) ?? 0));
      pendingKill = { line, fraction, delayMs, timer: setTimeout(() => kill(false), delayMs) };
    };

    replenish();
    const run = await startPipelineRun(context.client, { config, taskQueue: `${taskQueueBase}-chaos`, runId: RUN_ID });
    assert.equal(run.kind, 'started');
    if (run.kind !== 'started') return;
    try {
      manifests.chaos = (await run.handle.result()) as RunManifest;
    } finally {
      if (pendingKill) clearTimeout(pendingKill.timer);
      await Promise.all([...workers].filter((worker) => worker.pid > 0).map(stopWorker));
      await rename(home, disturbedHome);
    }
    if (failure) throw failure;

    // A kill landed if the activity it hit had another attempt after it (the history keeps the last).
    const attemptsByWorkflow = new Map<string, Map<string, number>>();
    for (const workflowId of new Set(kills.map((kill) => kill.workflowId))) attemptsByWorkflow.set(workflowId, await lastAttempts(context.client.workflow.getHandle(workflowId)));
    for (const kill of kills) kill.landed = (attemptsByWorkflow.get(kill.workflowId)?.get(kill.activityId) ?? 0) > kill.attempt;
    const landed = kills.filter((kill) => kill.landed);
    figures.kills = landed.length;
    const described = kills
      .map((kill) => `${kill.stage}/${kill.activityType}#${kill.attempt}@${kill.delayMs}ms(${kill.fraction.toFixed(2)})${kill.afterWork ? ' (after the work)' : ''}${kill.landed ? '' : ' (not landed)'}`)
      .join(' ');
    t.diagnostic(`seed ${seed}: ${kills.length} kills, ${landed.length} landed inside an attempt, ${kills.filter((kill) => kill.afterWork).length} of them after the work: ${described}`);
    t.diagnostic(`attempts: ${manifests.chaos.stages.map((stage) => `${stage.name}×${stage.attempts}`).join(' ')}`);

    assert.equal(manifests.chaos.status, 'succeeded', `seed ${seed}: ${manifests.chaos.stages.map((stage) => `${stage.name}: ${stage.error ?? stage.status}`).join('; ')}`);
    assert.ok(manifests.chaos.stages.every((stage) => stage.status === 'succeeded'), manifests.chaos.stages.map((stage) => `${stage.name}: ${stage.status} ${stage.note ?? ''}`).join('; '));
    figures.completed = 1;
    assert.ok(kills.length >= 20, `seed ${seed}: at least 20 kills, got ${kills.length}: ${described}`);
    assert.equal(landed.length, kills.length, `seed ${seed}: every kill landed inside an attempt: ${described}`);
    const stagesHit = new Set(landed.map((kill) => kill.stage));
    assert.deepEqual(config.stages.map((stage) => stage.stage).filter((stage) => !stagesHit.has(stage)), [], `seed ${seed}: a kill landed inside every stage`);
  });

  it('runs undisturbed again, with the UUID table the disturbed run made', { timeout: 6 * 60_000 }, async () => {
    assert.ok(manifests.chaos, 'the disturbed run completed');
    // uuids are random and the outputs carry them: the reference run reads the mappings the disturbed
    // run created (under kills) instead of drawing its own.
    await prepareHome();
    await cp(join(disturbedHome, '.uuid-tables'), join(home, '.uuid-tables'), { recursive: true });
    manifests.reference = await runUndisturbed('reference');
    assert.equal(manifests.reference.status, 'succeeded');
  });

  it('leaves no temporary or partial file anywhere: data root, buckets, Drive', async (t) => {
    assert.ok(manifests.chaos, 'the disturbed run completed');
    const leftovers = [...(await filesUnder(disturbedHome)).keys()].filter((path) => LEFTOVER_NAME.test(path) || TEMP_FILE_PATTERN.test(path.slice(path.lastIndexOf('/') + 1)));
    figures.temp_left = leftovers.length;
    t.diagnostic(`retried attempts removed ${tempFilesRemovedByRetries} temporary files their killed predecessors left`);
    assert.deepEqual(leftovers, [], `seed ${seed}`);
  });

  it('made outputs byte-identical to the undisturbed run, and nothing twice in any store', async () => {
    assert.ok(manifests.chaos && manifests.reference, 'both runs completed');
    const reference = await filesUnder(home);
    const disturbed = await filesUnder(disturbedHome);
    const compared = (files: Map<string, string>) => new Map([...files].filter(([path]) => !NOT_BYTE_COMPARED.some((rule) => rule.pattern.test(path))));
    const [expected, actual] = [compared(reference), compared(disturbed)];
    assert.ok(expected.size > 50, `the run wrote its outputs (${expected.size} files compared)`);
    assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), `seed ${seed}: the same files, none more (no duplicate object, Drive file or output)`);
    const different = [...expected].filter(([path, hash]) => actual.get(path) !== hash).map(([path]) => path);
    assert.deepEqual(different, [], `seed ${seed}: files whose bytes differ: ${(await Promise.all(different.slice(0, 5).map((path) => firstDifference(path, home, disturbedHome)))).join('; ')}`);

    // The archive, entry by entry: the same data files (its run record and log carry times and attempts).
    const archive = `chaos/backups/data-${RUN_ID}.tar.gz`;
    const entries = async (root: string) => new Map([...(await archiveEntries(join(root, archive)))].filter(([path]) => !/^(manifests|logs)\//.test(path)));
    const [expectedEntries, actualEntries] = [await entries(home), await entries(disturbedHome)];
    assert.ok(expectedEntries.size > 20);
    assert.deepEqual(actualEntries, expectedEntries, `seed ${seed}: archive entries`);
    // The uploads are the local files they copy, once each.
    const uploads = `.buckets/demo-pipeline-logs/runs`;
    assert.deepEqual((await readdir(join(disturbedHome, uploads))).sort(), [`${RUN_ID}.log`, `data-${RUN_ID}.tar.gz`, `data-${RUN_ID}.tar.gz.sha256`]);
    assert.equal(disturbed.get(`${uploads}/data-${RUN_ID}.tar.gz`), disturbed.get(archive));
    assert.equal(disturbed.get(`${uploads}/data-${RUN_ID}.tar.gz.sha256`), disturbed.get(`${archive}.sha256`));
    const log = await readFile(join(disturbedHome, 'chaos', 'logs', `${RUN_ID}.log`));
    const uploadedLog = await readFile(join(disturbedHome, uploads, `${RUN_ID}.log`));
    assert.ok(uploadedLog.length > 0 && log.subarray(0, uploadedLog.length).equals(uploadedLog), 'the uploaded log is the beginning of the run log');

    // Coda: the same documents, each message once with unique, contiguous sequence numbers.
    const codaStore = join('.coda-stores', 'chaos-coda.sqlite');
    const documents = codaDocuments(join(disturbedHome, codaStore));
    const expectedDocuments = codaDocuments(join(home, codaStore));
    const firstOther = documents.findIndex((document, index) => JSON.stringify(document) !== JSON.stringify(expectedDocuments[index]));
    assert.deepEqual(documents, expectedDocuments, `seed ${seed}: Coda documents, first different: ${JSON.stringify(documents[firstOther])?.slice(0, 600)} expected ${JSON.stringify(expectedDocuments[firstOther])?.slice(0, 600)}`);
    for (const dataset of config.coding!.datasets) {
      const messages = documents.filter((document) => document.collection === `datasets/${dataset.codaDatasetId}/messages`).map((document) => document.data as { MessageID: string; SequenceNumber: number });
      assert.ok(messages.length > 0, `${dataset.name}: messages in Coda`);
      assert.equal(new Set(messages.map((message) => message.MessageID)).size, messages.length, `${dataset.name}: no duplicate message`);
      assert.deepEqual(messages.map((message) => message.SequenceNumber).sort((a, b) => a - b), messages.map((_, index) => index), `${dataset.name}: sequence numbers`);
    }
    // UUID table, filled under kills: the phone numbers the calibration run mapped (with its own fresh
    // table), each once, each with its own uuid; the reference run, reading it, added nothing.
    const tables = (await readdir(join(disturbedHome, '.uuid-tables'))).filter((name) => name.endsWith('.sqlite'));
    assert.ok(tables.length > 0, 'the fetch de-identified phone numbers');
    for (const table of tables) {
      const mappings = uuidMappings(join(disturbedHome, '.uuid-tables', table));
      assert.deepEqual(mappings.map((mapping) => mapping.id), uuidMappings(join(calibrationHome, '.uuid-tables', table)).map((mapping) => mapping.id), `${table}: the same ids, none more`);
      assert.equal(new Set(mappings.map((mapping) => mapping.uuid)).size, mappings.length, `${table}: each uuid once`);
      assert.deepEqual(uuidMappings(join(home, '.uuid-tables', table)), mappings, `${table}: nothing added by the reference run`);
    }
    // Drive: one file per name.
    assert.deepEqual(await readdir(join(disturbedHome, '.drive', 'demo', 'Demo Project', 'Outputs')), ['individuals.csv', 'messages.csv']);
    figures.identical = 1;
  });
});
