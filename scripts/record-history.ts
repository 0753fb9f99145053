/**
 * `npm run record-history`: runs the example pipelines on a throwaway dev server and saves their event
 * histories (the run and its child workflows) to test/fixtures/histories/<workflow id>.json, where the
 * replay test checks that today's workflow code still replays them. Record a new file (keep the old ones) when a workflow change is made safe with patched().
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { NativeConnection } from '@temporalio/worker';

import { planStages } from '../activities/registry';
import { createPipelineLogger } from '../activities/runs/run-log';
import { actOnRun, connectClient, startPipelineRun } from '../client/pipeline-client';
import { pipelineDataConverterFor } from '../config/data-converter';
import { loadPipelineConfig } from '../config/load-config';
import { parsePipelineConfig,type PipelineConfig } from '../config/pipeline-config';
import { readSettings } from '../config/settings';
import { type RapidProServer, startDemoRapidProServer } from '../test/servers/rapid-pro-server';
import { createPipelineWorker, installRuntimeLogger } from '../worker/create-worker';
import { createActivityDeps } from '../worker/dependencies';
import { statusQuery } from '../workflows';
import { stopAllProcesses } from './lib/processes';
import { startTemporalDevServer } from './lib/servers';
import { PROJECT_ROOT } from './lib/tools';

const FIXTURE_KEY_FILE = join(PROJECT_ROOT, 'test', 'fixtures', 'histories', 'fixture-encryption.key');

/** Saves the run's history, and its stages' child workflows' (<workflow id>-<stage>), named by workflow id: replay needs it. */
async function saveHistories(client: Client, workflowId: string, config: PipelineConfig): Promise<void> {
  const folder = join(PROJECT_ROOT, 'test', 'fixtures', 'histories');
  mkdirSync(folder, { recursive: true });
  const workflowIds = [workflowId];
  for (const plan of planStages(config.pipelineName, config.stages)) if (plan.runsAs.kind === 'child-workflow') workflowIds.push(`${workflowId}-${plan.stage}`);
  for (const id of workflowIds) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const file = join(folder, `${id}.json`);
    writeFileSync(file, `${historyToJSON(history)}\n`);
    console.log(`recorded ${history.events?.length} events to ${file}`);
  }
}

/**
 * Records three runs: the weekly pipeline (against the Rapid Pro stand-in), the synthetic example (a child
 * workflow stage), and a run whose first stage fails, waits for an operator and is retried with a corrected
 * option (the Workflow Update path).
 */
async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'record-history-'));
  let rapidPro: RapidProServer | undefined;
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
    const examples = join(PROJECT_ROOT, 'config', 'examples');
    const weekly = await loadPipelineConfig(join(examples, 'demo-pipeline.yaml'));
    const example = await loadPipelineConfig(join(examples, 'synthetic-pipeline.yaml'));
    // Small shards, so the history holds a table of several shards and its join started with them.
    const synthetic: PipelineConfig = { ...example, stages: example.stages.map((stage) => (stage.stage === 'generate-synthetic' ? { ...stage, shardRows: 1000 } : stage)) };
    const raw = join(settings.dataHome, weekly.dataRoot, 'raw');
    cpSync(join(examples, 'demo-raw'), raw, { recursive: true });

    const token = 'record-history-token';
    mkdirSync(join(settings.localBucketsRoot, 'demo-secrets'), { recursive: true });
    writeFileSync(join(settings.localBucketsRoot, 'demo-secrets', 'rapid-pro-token.txt'), `${token}\n`);
    rapidPro = await startDemoRapidProServer({ token, until: new Date('2026-11-01T00:00:00Z') });
    const weeklyHere: PipelineConfig = {
      ...weekly,
      stages: weekly.stages.map((stage) => (stage.stage === 'fetch-sources' ? { ...stage, sources: stage.sources.map((source) => ({ ...source, baseUrl: rapidPro!.baseUrl })) } : stage)),
    };
    // Its graphs' input file does not exist: the stage fails when it runs, and an operator corrects it.
    const failing = parsePipelineConfig({
      pipelineName: 'operator',
      dataRoot: weekly.dataRoot,
      stages: [{ stage: 'analysis-graphs', input: 'raw/missing.csv', timestampColumn: 'received_at', participantColumn: 'participant_uuid', codeSchemes: [], formats: ['svg'] }],
    });

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
      for (const config of [weeklyHere, synthetic]) {
        const started = await startPipelineRun(client, { config, taskQueue: settings.taskQueue });
        if (started.kind !== 'started') throw new Error('not started');
        const manifest = await started.handle.result();
        if (manifest.status !== 'succeeded') throw new Error(`${config.pipelineName} ${manifest.status}`);
        await saveHistories(client, started.workflowId, config);
      }
      const started = await startPipelineRun(client, { config: failing, taskQueue: settings.taskQueue });
      if (started.kind !== 'started') throw new Error('not started');
      while ((await started.handle.query(statusQuery)).status !== 'failed-waiting') await new Promise((resolve) => setTimeout(resolve, 200));
      const outcome = await actOnRun(client, started.runId, { kind: 'retry', overrides: { input: 'raw/messages.csv' } });
      if (outcome.kind !== 'done') throw new Error(`retry-stage: ${JSON.stringify(outcome)}`);
      await started.handle.result();
      await saveHistories(client, started.workflowId, failing);
    });
    await client.connection.close();
    await connection.close();
  } finally {
    await rapidPro?.stop();
    await stopAllProcesses();
    rmSync(work, { recursive: true, force: true });
  }
}

void main();
