/**
 * `npm run demo`: on the embedded default (no cloud credentials), starts the dev server (persistent, with
 * its Web UI) and a worker, runs the bundled example pipeline end to end, and says where everything is.
 * On a terminal it keeps the server and worker up until Ctrl-C so the run can be explored in the Web UI;
 * otherwise (CI, pipes) it stops them and exits.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

import type { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

import { localCodaStorePath } from '../activities/coding/local-document-store';
import { openCodaStoreFor } from '../activities/coding/open-coda-store';
import { loadPlanCodeSchemes } from '../activities/coding/plan-code-schemes';
import { localDriveRoot } from '../activities/drive/local-drive';
import { resolveDataRoot } from '../activities/runs/data-root';
import { createPipelineLogger } from '../activities/runs/run-log';
import type { RunManifest } from '../activities/runs/types';
import { connectClient, startPipelineRun } from '../client/pipeline-client';
import { followRun, printManifest } from '../client/run-report';
import { keyringFor, pipelineDataConverter } from '../config/data-converter';
import { loadPipelineConfig } from '../config/load-config';
import type { PipelineConfig } from '../config/pipeline-config';
import { readSettings } from '../config/settings';
import { type RapidProServer, startDemoRapidProServer } from '../test/servers/rapid-pro-server';
import { createPipelineWorker, installRuntimeLogger } from '../worker/create-worker';
import { createActivityDeps, createBlobStore } from '../worker/dependencies';
import { codeLikeAPerson } from './demo-coder';
import { embeddedCodecSettings, ensureEmbeddedServer, startEmbeddedCodecServer } from './lib/embedded-server';
import { runMain, stopAllProcesses } from './lib/processes';
import { findTool, PROJECT_ROOT, TOOLS } from './lib/tools';

const EXAMPLE_CONFIG = join(PROJECT_ROOT, 'config', 'examples', 'demo-pipeline.yaml');
const EXAMPLE_RAW_DATA = join(PROJECT_ROOT, 'config', 'examples', 'demo-raw');

/**
 * The demo's Rapid Pro workspace: the local stand-in that speaks API v2 (two flows, a few hundred runs
 * from ~80 contacts, all modified before the same fixed date, so a second demo fetches nothing new).
 * Its token is kept where the config's tokenFileUrl points: the local bucket standing in for GCS.
 */
async function startRapidProStandIn(localBucketsRoot: string): Promise<RapidProServer> {
  const tokenFile = join(localBucketsRoot, 'demo-secrets', 'rapid-pro-token.txt');
  if (!existsSync(tokenFile)) {
    mkdirSync(dirname(tokenFile), { recursive: true });
    writeFileSync(tokenFile, `${randomBytes(20).toString('hex')}\n`, { mode: 0o600 });
  }
  return startDemoRapidProServer({ token: readFileSync(tokenFile, 'utf8').trim(), until: new Date('2026-11-01T00:00:00Z') });
}

function pointRapidProSourcesAt(config: PipelineConfig, baseUrl: string): PipelineConfig {
  return {
    ...config,
    stages: config.stages.map((stage) =>
      stage.stage === 'fetch-sources' ? { ...stage, sources: stage.sources.map((source) => (source.kind === 'rapid-pro' ? { ...source, baseUrl } : source)) } : stage,
    ),
  };
}

/** Starts one run of the pipeline and follows it to its end. */
async function runOnce(client: Client, config: PipelineConfig, taskQueue: string, what: string): Promise<RunManifest> {
  const started = await startPipelineRun(client, { config, taskQueue });
  if (started.kind !== 'started') throw new Error(`run ${started.runId} is already running`);
  console.log(`[demo] started run ${started.runId} of pipeline ${config.pipelineName} (${what})`);
  const manifest = await followRun(started.handle);
  printManifest(manifest);
  return manifest;
}

async function main(): Promise<number> {
  const codec = embeddedCodecSettings();
  const server = await ensureEmbeddedServer(readSettings().dataHome, { uiCodecEndpoint: codec.url });
  const settings = readSettings({ ...process.env, TEMPORAL_ADDRESS: server.address, PIPELINE_BLOB_STORE: 'local' });
  console.log(`[demo] Temporal dev server ${server.address}${server.startedHere ? ` (started, pid ${server.startedHere.pid})` : ' (already running)'}, database ${relative(PROJECT_ROOT, server.dbFile)}`);
  // Nothing configured: payloads are encrypted with the data home's local key, generated the first time.
  const keyring = keyringFor(settings);
  console.log(
    `[demo] payloads encrypted in Temporal's history with key ${keyring.activeKeyId} (${settings.encryption.source === 'environment' ? 'PIPELINE_ENCRYPTION_KEYS' : relative(PROJECT_ROOT, settings.encryption.file)})`,
  );

  const rapidPro = await startRapidProStandIn(settings.localBucketsRoot);
  const config = pointRapidProSourcesAt(await loadPipelineConfig(EXAMPLE_CONFIG), rapidPro.baseUrl);
  const dataRoot = resolveDataRoot(settings.dataHome, config.dataRoot, settings.allowedDataRoots);
  // raw/ is never modified once written: the example files are added where missing, never replaced.
  cpSync(EXAMPLE_RAW_DATA, join(dataRoot, 'raw'), { recursive: true, force: false });

  const logger = createPipelineLogger(settings.logLevel === 'info' ? 'warn' : settings.logLevel).child({ component: 'demo-worker' });
  installRuntimeLogger(logger);
  // The Web UI this demo started decodes the payloads through it.
  const codecServer = server.startedHere ? await startEmbeddedCodecServer(keyring, logger.child({ component: 'codec-server' })) : undefined;
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await createPipelineWorker({
    connection,
    namespace: settings.temporalNamespace,
    taskQueue: settings.taskQueue,
    deps: createActivityDeps(settings, logger),
    dataConverter: pipelineDataConverter(keyring),
  });
  const workerRunning = worker.run();
  const client = await connectClient(settings);

  let exitCode = 0;
  try {
    // Week 1: fetch, outputs (nothing coded yet), push the messages to Coda, graphs, Drive, backup, logs.
    const first = await runOnce(client, config, settings.taskQueue, 'first run: nothing is coded yet');
    if (first.status !== 'succeeded') return 1;

    // Between the runs, a coder works in Coda (here: the local store), as a person would during the week.
    const coding = config.coding!;
    const opened = await openCodaStoreFor(coding.store, settings.dataHome, createBlobStore(settings));
    try {
      const session = await codeLikeAPerson(opened.store, coding, await loadPlanCodeSchemes(dataRoot, coding), new Date());
      console.log(`[demo] a coder labelled ${session.labelled} messages in Coda (${session.stopped} as STOP: consent withdrawn) and confirmed ${session.confirmed} automatic labels`);
    } finally {
      await opened.close();
    }

    // Week 2: the same pipeline pulls the coded messages back; outputs and graphs show them.
    const manifest = await runOnce(client, config, settings.taskQueue, 'second run: pulls the coded messages back');
    exitCode = manifest.status === 'succeeded' ? 0 : 1;

    const temporal = findTool(TOOLS.temporal) ?? 'temporal';
    console.log(`
[demo] data root:      ${dataRoot}
[demo] run manifest:   ${join(dataRoot, 'manifests', `${manifest.runId}.json`)}
[demo] run log:        ${join(dataRoot, 'logs', `${manifest.runId}.log`)}
[demo] outputs:        ${join(dataRoot, 'outputs', manifest.runId)}   (coded data: ${join(dataRoot, 'coded', manifest.runId)})
[demo] graphs:         ${join(dataRoot, 'graphs', manifest.runId)}
[demo] Coda (local):   ${localCodaStorePath(settings.dataHome, config.coding!.store.name)}
[demo] Drive (local):  ${localDriveRoot(settings.dataHome, 'demo')}
[demo] local buckets:  ${settings.localBucketsRoot}
[demo] Web UI:         ${server.uiUrl}/namespaces/default/workflows/${encodeURIComponent(manifest.workflowId)}
[demo] codec server:   ${codecServer ? `${codecServer.url} (the Web UI decrypts payloads through it)` : `not started here; \`npm run codec-server\` serves ${codec.url}`}
[demo] with the CLI:   ${relative(PROJECT_ROOT, temporal) || temporal} workflow describe --address ${server.address} -w ${manifest.workflowId}
[demo]                 npm run pipeline -- status ${manifest.runId}`);

    if (process.stdin.isTTY && !process.env.CI) {
      console.log('[demo] server and worker keep running for the Web UI; press Ctrl-C to stop them');
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    } else {
      console.log(`[demo] stopping the worker${server.startedHere ? ' and the dev server' : ''}; \`npm run server\` serves the Web UI on the same database`);
    }
  } finally {
    await rapidPro.stop();
    await codecServer?.close();
    worker.shutdown();
    await workerRunning;
    await client.connection.close();
    await connection.close();
    await stopAllProcesses();
  }
  return exitCode;
}

runMain(main);
