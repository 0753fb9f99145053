/**
 * Cancellation inside the long activities, without Temporal: a cancelled attempt (the activity's
 * cancellation signal aborts) stops its HTTP waits, its archive writes, a series period, the analysis
 * graphs, a dataset's QA and a recovery CSV download promptly, and leaves no temporary file. The signal is
 * aborted from a timer, as the worker aborts it when a heartbeat's answer arrives: CPU-bound work must give
 * the event loop turns for that to happen. The worker-level path (terminate a large generation) is in
 * test/synth-stage.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { MockActivityEnvironment } from '@temporalio/testing';

import { createDataRootBackup } from '../activities/archive/backup-data-root';
import { analysisGraphsImplementation } from '../activities/graphs/analysis-graphs';
import { checkDataset, type QaConfig } from '../activities/qa/qa-batch';
import { createStageActivities } from '../activities/registry';
import { createPipelineLogger } from '../activities/runs/run-log';
import type { StageRequest } from '../activities/runs/types';
import { getJson } from '../activities/sources/http';
import { TEMP_FILE_PATTERN } from '../activities/storage/atomic-write';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { writeTableFile } from '../activities/synth/generate';
import { generateSeriesPeriod, planSeries } from '../activities/synth/series';
import { parseSynthSpec } from '../activities/synth/spec';
import { parsePipelineConfig } from '../config/pipeline-config';
import { temporaryFolder } from './helpers/environment';
import { testLogger } from './helpers/pipeline-worker';
import { allFiles } from './helpers/sources';

/** Far longer than stopping takes on a loaded machine, far shorter than finishing would. */
const STOP_WITHIN_MS = 5_000;

const temporaryFilesUnder = async (root: string): Promise<string[]> => (existsSync(root) ? (await allFiles(root)).filter((path) => TEMP_FILE_PATTERN.test(basename(path))) : []);

/** The abort's reason, or a stream's AbortError caused by it. */
const cancelledBy = (reason: RegExp) => (err: unknown): boolean => err instanceof Error && (reason.test(err.message) || (err.cause instanceof Error && reason.test(err.cause.message)));

/**
 * Aborts `controller` from a timer once `started()` says the work is under way (the first progress), as the
 * worker does when a heartbeat's answer says the activity is cancelled; resolves with the time of the abort.
 */
function abortOnceStarted(controller: AbortController, started: () => boolean, reason = 'activity cancelled'): Promise<number> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 60_000;
    const timer = setInterval(() => {
      if (started()) {
        clearInterval(timer);
        controller.abort(new Error(reason));
        resolve(Date.now());
      } else if (Date.now() > deadline) {
        clearInterval(timer);
        reject(new Error('the work never reported progress'));
      }
    }, 5);
  });
}

describe('cancellation inside long activities', () => {
  let server: Server;
  let requests = 0;
  let url = '';
  before(async () => {
    // Always rate limited, asking for a minute's wait: a request would otherwise sleep in-process.
    server = createServer((_request, response) => {
      requests += 1;
      response.writeHead(429, { 'Retry-After': '60', 'Content-Type': 'application/json' });
      response.end('{"detail":"slow down"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v2/runs.json`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a rate-limit wait ends as soon as the attempt is cancelled, with no further request', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = getJson(
      { url, headers: {}, source: 'rapid-pro', classify: (status, _body, headers) => (status === 429 ? { kind: 'rate-limited', reason: 'HTTP 429', waitMs: Number(headers.get('retry-after')) * 1000 } : { kind: 'ok' }) },
      { fetch: globalThis.fetch, logger: createPipelineLogger('error'), signal: controller.signal },
    );
    // Cancel once the first answer has arrived and the wait begun.
    const deadline = Date.now() + 10_000;
    while (requests === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('activity cancelled'));
    await assert.rejects(pending, /activity cancelled/);
    assert.ok(Date.now() - started < 5_000, `stopped after ${Date.now() - started} ms, not after the 60 s wait`);
    assert.equal(requests, 1);
  });

  it('an archive being written stops on cancellation and leaves no temporary file', async () => {
    const home = await temporaryFolder('cancel-backup-');
    const dataRoot = join(home, 'root');
    await mkdir(join(dataRoot, 'raw'), { recursive: true });
    // Incompressible content large enough that the archive is still being written when cancelled.
    for (let i = 0; i < 40; i++) await writeFile(join(dataRoot, 'raw', `part-${i}.bin`), randomBytes(1 << 20));
    const controller = new AbortController();
    const archive = join(home, 'backups', 'data-run.tar.gz');
    let progressed = false;
    const pending = createDataRootBackup(
      dataRoot,
      archive,
      () => {
        if (!progressed) {
          progressed = true;
          controller.abort(new Error('activity cancelled'));
        }
      },
      controller.signal,
    );
    await assert.rejects(pending, /cancelled|abort/i);
    assert.ok(progressed);
    assert.deepEqual(await readdir(join(home, 'backups')), [], 'neither the archive nor its temporary file remains');
  });
});

describe('cancellation inside CPU-bound stages', () => {
  it('a series period stops between blocks of rows, with no dataset, marker or temporary file left', async (t) => {
    const folder = await temporaryFolder('cancel-series-');
    const spec = parseSynthSpec({
      name: 'big-series',
      seed: 3,
      tables: [
        {
          name: 'visits',
          rows: 2_000_000,
          columns: [
            { name: 'id', type: 'id', format: { kind: 'uuid', prefix: 'v-' }, primaryKey: true },
            { name: 'clinic', type: 'categorical', values: { north: 0.5, south: 0.3, east: 0.2 } },
            { name: 'visited', type: 'date', from: '2026-01-01', to: '2026-01-31' },
            { name: 'weight', type: 'numeric', distribution: 'normal', mean: 70, sd: 10, min: 30, max: 150, precision: 1 },
          ],
        },
      ],
    });
    const plan = planSeries(spec, { series: 'monthly', periodUnit: 'months', periodLength: 1, periods: 2, newFraction: 0.5, dateColumns: ['visited'], staticColumns: ['clinic'], format: 'csv' });
    const controller = new AbortController();
    let rows = 0;
    const pending = generateSeriesPeriod(plan, 1, { seriesFolder: folder }, 'base-hash', (details) => (rows = Number(details.rows ?? rows)), controller.signal);
    const abortedAt = await abortOnceStarted(controller, () => rows > 0);
    await assert.rejects(pending, cancelledBy(/activity cancelled/));
    const stoppedAfter = Date.now() - abortedAt;
    assert.ok(stoppedAfter < STOP_WITHIN_MS, `stopped ${stoppedAfter} ms after the abort`);
    t.diagnostic(`stopped ${stoppedAfter} ms after the abort`);
    assert.ok(rows < plan.rows, `stopped at row ${rows} of ${plan.rows}`);
    assert.deepEqual(await temporaryFilesUnder(folder), []);
    assert.equal(existsSync(join(folder, 'period-1', 'dataset_1.csv')), false, 'the period was not finished');
    assert.equal(existsSync(join(folder, 'period-1', 'period.json')), false);
  });

  it('analysis graphs give the event loop turns between charts, stop on cancellation, and leave no temporary file', async (t) => {
    const dataRoot = await temporaryFolder('cancel-graphs-');
    const schemes = Array.from({ length: 40 }, (_, i) => `scheme_${i}`);
    const lines = [['received_at', 'participant', ...schemes].join(',')];
    for (let row = 0; row < 2000; row++) lines.push([`2026-10-${String(1 + (row % 28)).padStart(2, '0')}T10:00:00Z`, `p${row % 97}`, ...schemes.map((_, s) => `code_${(row + s) % 12}`)].join(','));
    await mkdir(join(dataRoot, 'raw'), { recursive: true });
    await writeFile(join(dataRoot, 'raw', 'messages.csv'), `${lines.join('\n')}\n`);
    const config = parsePipelineConfig({
      pipelineName: 'cancel',
      dataRoot: 'cancel',
      stages: [{ stage: 'analysis-graphs', input: 'raw/messages.csv', timestampColumn: 'received_at', participantColumn: 'participant', codeSchemes: schemes, formats: ['svg', 'png'] }],
    });
    const controller = new AbortController();
    let graphs = 0;
    const context = {
      request: { runId: 'run-1', pipelineName: 'cancel', dataRoot, stage: config.stages[0]!, upstream: {}, overwrite: false },
      dataRoot,
      logger: testLogger(),
      now: () => new Date('2026-11-22T00:00:00Z'),
      reportProgress: (details: Record<string, unknown>) => (graphs = Number(details.graphs ?? graphs)),
      signal: controller.signal,
    } as unknown as Parameters<typeof analysisGraphsImplementation.run>[0];
    const pending = analysisGraphsImplementation.run(context);
    const abortedAt = await abortOnceStarted(controller, () => graphs > 0);
    await assert.rejects(pending, /activity cancelled/);
    const stoppedAfter = Date.now() - abortedAt;
    assert.ok(stoppedAfter < STOP_WITHIN_MS, `stopped ${stoppedAfter} ms after the abort`);
    t.diagnostic(`stopped ${stoppedAfter} ms after the abort`);
    const folder = join(dataRoot, 'graphs', 'run-1');
    assert.deepEqual(await temporaryFilesUnder(folder), []);
    assert.equal(existsSync(join(folder, `codes_${schemes.at(-1)!}.png`)), false, 'the last chart was never rendered');
  });

  it("a dataset's QA stops during its pass over the rows and writes nothing", async (t) => {
    const dataRoot = await temporaryFolder('cancel-qa-');
    const spec = {
      name: 'people',
      seed: 8,
      tables: [
        {
          name: 'people',
          rows: 600_000,
          columns: [
            { name: 'id', type: 'id', format: { kind: 'uuid', prefix: '' }, primaryKey: true },
            { name: 'gender', type: 'categorical', values: { F: 0.6, M: 0.4 } },
            { name: 'region', type: 'categorical', values: { N: 0.5, S: 0.3, E: 0.2 } },
            { name: 'age', type: 'numeric', kind: 'integer', min: 18, max: 80 },
            { name: 'score', type: 'numeric', distribution: 'normal', mean: 50, sd: 10, min: 0, max: 100, precision: 1 },
          ],
        },
      ],
    };
    await mkdir(join(dataRoot, 'raw'), { recursive: true });
    await writeFile(join(dataRoot, 'raw', 'spec.json'), JSON.stringify(spec));
    const table = join(dataRoot, 'synth', 'people.csv');
    await writeTableFile(parseSynthSpec(spec), 'people', table, { format: 'csv' });
    const stage = parsePipelineConfig({ pipelineName: 'cancel', dataRoot: 'cancel', stages: [{ stage: 'qa', spec: 'raw/spec.json' }] }).stages[0] as QaConfig;
    const controller = new AbortController();
    let rows = 0;
    const task = { name: 'people', folder: 'people', spec: 'raw/spec.json', table: 'people', uri: pathToFileURL(table).href };
    const pending = checkDataset(dataRoot, 'run-1', stage, task, testLogger(), (details) => (rows = Number(details.rows ?? rows)), controller.signal);
    const abortedAt = await abortOnceStarted(controller, () => rows > 0);
    const rowsAtAbort = rows;
    await assert.rejects(pending, /activity cancelled/);
    const stoppedAfter = Date.now() - abortedAt;
    assert.ok(stoppedAfter < STOP_WITHIN_MS, `stopped ${stoppedAfter} ms after the abort`);
    t.diagnostic(`stopped ${stoppedAfter} ms and ${rows - rowsAtAbort} rows after the abort`);
    // Within the pass, not after it: a pass that never gave the event loop a turn reads every row first.
    assert.ok(rows - rowsAtAbort < 300_000, `read ${rows - rowsAtAbort} rows after the abort`);
    assert.equal(existsSync(join(dataRoot, 'qa')), false, 'nothing written');
  });
});

describe('cancellation of a recovery CSV download, through the activity wrapper', () => {
  it('stops within the file, and the cancelled activity leaves no temporary file: not the download, not the partial output', async (t) => {
    const dataHome = await temporaryFolder('cancel-recovery-');
    const phones = Array.from({ length: 20 }, (_, i) => `+2547110000${String(i).padStart(2, '0')}`);
    const rows = ['Sender,Message,ReceivedOn'];
    for (let i = 0; i < 200_000; i++) rows.push(`${phones[i % phones.length]!},"message ${i}",2026-10-${String(1 + (i % 28)).padStart(2, '0')} 12:00:00`);
    await mkdir(join(dataHome, '.buckets', 'recovered'), { recursive: true });
    await writeFile(join(dataHome, '.buckets', 'recovered', 'big.csv'), `${rows.join('\n')}\n`);
    const config = parsePipelineConfig({
      pipelineName: 'cancel',
      dataRoot: 'cancel',
      stages: [
        {
          stage: 'fetch-sources',
          sources: [{ kind: 'recovery-csv', name: 'recovery', activationFlowUrls: ['gs://recovered/big.csv'] }],
          uuidTable: { backend: 'local', table: 'phones', uuidPrefix: 'avf-phone-uuid-' },
          sourceKeyRemappings: [{ sourceKey: 'Message', pipelineKey: 'rqa_s01e01_raw', isActivationMessage: true }],
          projectStartDate: '2026-10-01T00:00:00Z',
          projectEndDate: '2026-10-31T00:00:00Z',
        },
      ],
    });
    const deps = { dataHome, blobStore: new LocalBlobStore(join(dataHome, '.buckets')), localStoreRoots: [join(dataHome, '.buckets')], logger: testLogger(), now: () => new Date('2026-11-22T00:00:00Z') };
    const request: StageRequest = { runId: '20261122T000000.000Z-abcdef0', pipelineName: 'cancel', dataRoot: 'cancel', stage: config.stages[0]!, upstream: {}, overwrite: false };
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: 'pipeline-cancel-run', runId: 'r1' }, activityId: '1' });
    let written = 0;
    env.on('heartbeat', (details: { recordsWritten?: number }) => (written = details.recordsWritten ?? written));
    const controller = new AbortController();
    const pending = env.run(createStageActivities(deps)['fetch-sources'], request);
    // The worker's cancellation, from a timer once the first page is on disk.
    controller.signal.addEventListener('abort', () => env.cancel('CANCELLED'));
    const abortedAt = await abortOnceStarted(controller, () => written > 0);
    await assert.rejects(pending);
    const stoppedAfter = Date.now() - abortedAt;
    assert.ok(stoppedAfter < STOP_WITHIN_MS, `stopped ${stoppedAfter} ms after the abort`);
    t.diagnostic(`stopped ${stoppedAfter} ms after the abort`);
    assert.ok(written < 200_000, `stopped after ${written} records`);
    const folder = join(dataHome, 'cancel', 'raw', 'recovery', request.runId);
    assert.equal(existsSync(join(folder, 'summary.json')), false, 'the source was not finished');
    assert.deepEqual(await temporaryFilesUnder(dataHome), [], 'no temporary file anywhere in the data home');
  });
});
