/**
 * The Temporal server restarts in the middle of a run (same SQLite file, same port): the worker process
 * and the client reconnect on their own, and the run completes.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import type { Client } from '@temporalio/client';

import type { RunManifest } from '../activities/runs/types';
import { connectClient, startPipelineRun } from '../client/pipeline-client';
import { SEARCH_ATTRIBUTES } from '../config/constants';
import { parsePipelineConfig } from '../config/pipeline-config';
import { readSettings } from '../config/settings';
import { freePort } from '../scripts/lib/processes';
import { startTemporalDevServer, type TemporalDevServer } from '../scripts/lib/servers';
import { PROJECT_ROOT } from '../scripts/lib/tools';
import { temporaryFolder } from './helpers/environment';

const SPEC = `
name: restart
seed: 9
tables:
  - name: rows
    rows: 6000000
    columns:
      - { name: id, type: id, format: { kind: uuid }, primaryKey: true }
      - { name: score, type: numeric, distribution: normal, mean: 50, sd: 10, min: 0, max: 100, precision: 2 }
      - { name: region, type: categorical, values: { North: 0.4, South: 0.6 } }
`;

describe('a server restart mid-run', () => {
  let server: TemporalDevServer | undefined;
  let worker: ChildProcess | undefined;
  let client: Client | undefined;

  after(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await client?.connection.close();
    await server?.process.stop();
  });

  it('completes the run after the server comes back on the same database', async () => {
    const work = await temporaryFolder('restart');
    const dataHome = join(work, 'home');
    await mkdir(join(dataHome, 'restart', 'raw', 'specs'), { recursive: true });
    await writeFile(join(dataHome, 'restart', 'raw', 'specs', 'restart.yaml'), SPEC);
    const port = await freePort();
    const serverOptions = { dbFile: join(work, 'temporal.sqlite'), logFile: join(work, 'temporal.log'), port };
    server = await startTemporalDevServer(serverOptions);
    const env = { ...process.env, TEMPORAL_ADDRESS: server.address, PIPELINE_TASK_QUEUE: 'restart', PIPELINE_DATA_HOME: dataHome, PIPELINE_BLOB_STORE: 'local', LOG_LEVEL: 'warn' };
    worker = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'worker', 'main.ts')], { cwd: PROJECT_ROOT, env, stdio: 'ignore' });
    client = await connectClient(readSettings(env));

    const config = parsePipelineConfig({
      pipelineName: 'restart',
      dataRoot: 'restart',
      operatorWaitLimit: '0s',
      stages: [{ stage: 'generate-synthetic', spec: 'raw/specs/restart.yaml' }, { stage: 'backup-data-root' }, { stage: 'upload-logs', destination: 'gs://restart-logs/runs/' }],
    });
    const started = await startPipelineRun(client, { config, taskQueue: 'restart' });
    assert.equal(started.kind, 'started');
    if (started.kind !== 'started') return;
    for (const until = Date.now() + 120_000; ; ) {
      const description = await started.handle.describe();
      if (description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineStage) === 'generate-synthetic') break;
      if (Date.now() > until || description.status.name !== 'RUNNING') throw new Error(`the run did not reach generate-synthetic (${description.status.name})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    await server.process.stop();
    server = await startTemporalDevServer(serverOptions);

    const manifest = (await started.handle.result()) as RunManifest;
    assert.equal(manifest.status, 'succeeded', manifest.stages.map((stage) => `${stage.name}: ${stage.error ?? stage.status}`).join('; '));
    assert.deepEqual(
      manifest.stages.map((stage) => stage.status),
      ['succeeded', 'succeeded', 'succeeded'],
    );
  });
});
