/**
 * `npm run record-history`: runs the example pipeline on a throwaway dev server and saves its event
 * histories (the run and its child workflows) to test/fixtures/histories/<workflow id>.json, where the
 * replay test checks that today's workflow code still replays them. Record a new file (keep the old ones) when a workflow change is made safe with patched().
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { NativeConnection } from '@temporalio/worker';

import { planStages } from '../activities/registry';
import { createPipelineLogger } from '../activities/runs/run-log';
import { connectClient, startPipelineRun } from '../client/pipeline-client';
import { pipelineDataConverterFor } from '../config/data-converter';
import { loadPipelineConfig } from '../config/load-config';
import { readSettings } from '../config/settings';
import { createPipelineWorker, installRuntimeLogger } from '../worker/create-worker';
import { createActivityDeps } from '../worker/dependencies';
import { stopAllProcesses } from './lib/processes';
import { startTemporalDevServer } from './lib/servers';
import { PROJECT_ROOT } from './lib/tools';

const FIXTURE_KEY_FILE = join(PROJECT_ROOT, 'test', 'fixtures', 'histories', 'fixture-encryption.key');

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'record-history-'));
  try {
    const server = await startTemporalDevServer({ dbFile: join(work, 'temporal.sqlite'), logFile: join(work, 'temporal.log') });
    // Histories are recorded encrypted, as every run's are, under the fixtures' own (not secret) key,
    // which the replay test holds.
    const settings = readSettings({
      TEMPORAL_ADDRESS: server.address,
      PIPELINE_DATA_HOME: join(work, 'data'),
      LOG_LEVEL: 'warn',
      PIPELINE_ENCRYPTION_KEYS: readFileSync(FIXTURE_KEY_FILE, 'utf8'),
    });
    const config = await loadPipelineConfig(join(PROJECT_ROOT, 'config', 'examples', 'demo-pipeline.yaml'));
    cpSync(join(PROJECT_ROOT, 'config', 'examples', 'demo-raw'), join(settings.dataHome, config.dataRoot, 'raw'), { recursive: true });
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
    await worker.runUntil(async () => {
      const started = await startPipelineRun(client, { config, taskQueue: settings.taskQueue });
      if (started.kind !== 'started') throw new Error('not started');
      await started.handle.result();
      const folder = join(PROJECT_ROOT, 'test', 'fixtures', 'histories');
      mkdirSync(folder, { recursive: true });
      // The run, and the child workflows of its stages (<workflow id>-<stage>). Files are named by
      // workflow id: replay needs it, since child workflow ids are derived from it.
      const workflowIds = [started.workflowId];
      for (const plan of planStages(config.pipelineName, config.stages)) if (plan.runsAs.kind === 'child-workflow') workflowIds.push(`${started.workflowId}-${plan.stage}`);
      for (const workflowId of workflowIds) {
        const history = await client.workflow.getHandle(workflowId).fetchHistory();
        const file = join(folder, `${workflowId}.json`);
        writeFileSync(file, `${historyToJSON(history)}\n`);
        console.log(`recorded ${history.events?.length} events to ${file}`);
      }
    });
    await client.connection.close();
    await connection.close();
  } finally {
    await stopAllProcesses();
    rmSync(work, { recursive: true, force: true });
  }
}

void main();
