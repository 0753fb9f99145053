/**
 * Fault tolerance, proven: the weekly pipeline and the synthetic stages in one run, served by a worker
 * process that is killed (SIGKILL) as each stage starts and replaced by a new one. The run must complete,
 * Coda must hold each message once with unique sequence numbers, every upload must exist once, and the
 * synthetic tables must be byte-identical to what the engine makes from the spec.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { openCodaStore } from '../activities/coding/open-coda-store';
import type { RunManifest } from '../activities/runs/types';
import { generateTableText } from '../activities/synth/generate';
import { loadSynthSpec } from '../activities/synth/load-spec';
import { startPipelineRun } from '../client/pipeline-client';
import { SEARCH_ATTRIBUTES } from '../config/constants';
import { loadPipelineConfig } from '../config/load-config';
import { parsePipelineConfig,type PipelineConfig } from '../config/pipeline-config';
import { PROJECT_ROOT } from '../scripts/lib/tools';
import { startWorkerProcess } from '../scripts/lib/worker-process';
import { temporaryFolder, testServers } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext } from './helpers/pipeline-worker';
import { type RapidProServer, startDemoRapidProServer } from './servers/rapid-pro-server';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('chaos: a worker killed in every stage', () => {
  let context: PipelineTestContext;
  let rapidPro: RapidProServer;
  let dataHome: string;
  let config: PipelineConfig;
  let worker: ChildProcess | undefined;
  const taskQueue = `chaos-${Date.now().toString(36)}`;
  const spawned: ChildProcess[] = [];

  /** A worker process on the test's task queue; resolves once it serves it. */
  async function startWorker(): Promise<ChildProcess> {
    const child = await startWorkerProcess({ temporalAddress: testServers.temporalAddress, taskQueue, dataHome });
    spawned.push(child);
    return child;
  }

  before(async () => {
    context = await createPipelineTestContext('chaos');
    dataHome = await temporaryFolder('chaos-home');
    const token = randomBytes(20).toString('hex');
    rapidPro = await startDemoRapidProServer({ token, until: new Date('2026-11-01T00:00:00Z'), activationRuns: 200, surveyRuns: 50 });
    await mkdir(join(dataHome, '.buckets', 'demo-secrets'), { recursive: true });
    await writeFile(join(dataHome, '.buckets', 'demo-secrets', 'rapid-pro-token.txt'), `${token}\n`);
    await cp(join(PROJECT_ROOT, 'config', 'examples', 'demo-raw'), join(dataHome, 'chaos', 'raw'), { recursive: true });

    const weekly = await loadPipelineConfig(join(PROJECT_ROOT, 'config', 'examples', 'demo-pipeline.yaml'));
    const synthetic = await loadPipelineConfig(join(PROJECT_ROOT, 'config', 'examples', 'synthetic-pipeline.yaml'));
    const syntheticStages = synthetic.stages.filter((stage) => ['generate-synthetic', 'generate-series', 'qa'].includes(stage.stage));
    const stages = [...weekly.stages.slice(0, -2), ...syntheticStages, ...weekly.stages.slice(-2)].map((stage) => ({
      ...(stage.stage === 'fetch-sources' ? { ...stage, sources: stage.sources.map((source) => ({ ...source, baseUrl: rapidPro.baseUrl })) } : stage),
      // A killed worker is noticed after 2 s of silence, and its attempt retried at once on the new one.
      heartbeatTimeout: '2s',
      retry: { maximumAttempts: 20, initialInterval: '100ms', maximumInterval: '1s' },
    }));
    config = parsePipelineConfig({ ...weekly, pipelineName: 'chaos', dataRoot: 'chaos', operatorWaitLimit: '0s', coding: { ...weekly.coding!, store: { backend: 'local', name: 'chaos-coda' } }, stages });
  });
  after(async () => {
    for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rapidPro?.stop();
    await context?.close();
  });

  it('completes with every output once and the synthetic tables byte-identical', async (t) => {
    worker = await startWorker();
    const started = await startPipelineRun(context.client, { config, taskQueue });
    assert.equal(started.kind, 'started');
    if (started.kind !== 'started') return;

    const killedIn: string[] = [];
    for (const stage of config.stages.map((entry) => entry.stage)) {
      // As soon as the run says the stage is running, the worker serving it dies.
      for (const until = Date.now() + 120_000; ; ) {
        const description = await started.handle.describe();
        if (description.status.name !== 'RUNNING') break;
        if (description.typedSearchAttributes.get(SEARCH_ATTRIBUTES.pipelineStage) === stage) {
          worker.kill('SIGKILL');
          killedIn.push(stage);
          worker = await startWorker();
          break;
        }
        if (Date.now() > until) throw new Error(`the run never reached ${stage}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    const manifest = (await started.handle.result()) as RunManifest;
    assert.equal(manifest.status, 'succeeded', manifest.stages.map((stage) => `${stage.name}: ${stage.error ?? stage.status}`).join('; '));
    assert.ok(killedIn.length >= config.stages.length - 2, `killed in ${killedIn.join(', ')}`);
    assert.ok(
      manifest.stages.every((stage) => stage.status === 'succeeded' || stage.status === 'skipped'),
      manifest.stages.map((stage) => `${stage.name}: ${stage.status}`).join('; '),
    );
    t.diagnostic(`worker killed as ${killedIn.length} stages started; attempts: ${manifest.stages.map((stage) => `${stage.name}×${stage.attempts}`).join(' ')}`);
    assert.ok(manifest.stages.some((stage) => stage.attempts > 1), `some kill landed in an attempt: ${manifest.stages.map((stage) => `${stage.name}×${stage.attempts}`).join(' ')}`);

    // Coda: each text once, sequence numbers unique and contiguous.
    const opened = await openCodaStore(config.coding!.store, { dataHome });
    try {
      for (const dataset of config.coding!.datasets) {
        const stored = (await opened.store.readMessages(dataset.codaDatasetId, new Map())).flatMap((segment) => segment.documents.map((document) => document.data as { MessageID: string; SequenceNumber: number }));
        assert.equal(new Set(stored.map((message) => message.MessageID)).size, stored.length, `${dataset.name}: no duplicate message`);
        assert.deepEqual(stored.map((message) => message.SequenceNumber).sort((a, b) => a - b), stored.map((_, index) => index), `${dataset.name}: sequence numbers`);
      }
    } finally {
      await opened.close();
    }

    // Uploads: one log and one archive of this run, one messages.csv in the local Drive.
    const uploaded = await readdir(join(dataHome, '.buckets', 'demo-pipeline-logs', 'runs'));
    assert.deepEqual(uploaded.filter((name) => name.includes(manifest.runId)).sort(), [`${manifest.runId}.log`, `data-${manifest.runId}.tar.gz`, `data-${manifest.runId}.tar.gz.sha256`]);
    assert.deepEqual(await readdir(join(dataHome, '.drive', 'demo', 'Demo Project', 'Outputs')), ['individuals.csv', 'messages.csv']);

    // The synthetic tables are exactly what the engine makes from the spec, whatever the kills.
    const { spec } = await loadSynthSpec(join(dataHome, 'chaos', 'raw', 'specs', 'radio-show.yaml'), 'auto');
    for (const table of spec.tables) {
      const written = await readFile(join(dataHome, 'chaos', 'synth', spec.name, manifest.runId, `${table.name}.csv`));
      assert.equal(sha256(written), sha256(generateTableText(spec, table.name, { format: 'csv' })), `${table.name}.csv`);
    }
    assert.ok(existsSync(join(dataHome, 'chaos', 'synth', 'weekly-participants', 'period-4', 'dataset_4.csv')));
  });
});
