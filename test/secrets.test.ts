/**
 * Secrets never leak: the weekly pipeline runs with a distinctive Rapid Pro token in the token file its
 * config names, distinctive raw phone numbers (in several spellings) in its sources, and a distinctive
 * marker in the config's free text. Afterwards the token and the numbers appear nowhere: not in the
 * worker's log lines, the run log files, the workflow histories as stored (raw bytes) or decoded with the
 * key, the manifests, or any output (data root, buckets, Drive folder, Coda store). The marker appears in
 * the history only encrypted: decoding with the key shows it, the stored bytes do not.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import pino from 'pino';

import type { ActivityDeps } from '../activities';
import { loadPipelineConfig } from '../config/load-config';
import type { PipelineConfig } from '../config/pipeline-config';
import { PROJECT_ROOT } from '../scripts/lib/tools';
import { decryptPayloadsIn } from './helpers/encryption';
import { temporaryFolder, testServers } from './helpers/environment';
import { createPipelineTestContext, type FinishedRun, type PipelineTestContext, testBlobStore } from './helpers/pipeline-worker';
import { allFiles, leaks } from './helpers/sources';
import { type RapidProServer, startDemoRapidProServer } from './servers/rapid-pro-server';

const runCli = promisify(execFile);
const TOKEN = `tok${randomBytes(16).toString('hex')}`;
const MARKER = `marker-${randomBytes(8).toString('hex')}`;
/** Distinctive numbers: the Rapid Pro contact's, and the recovery CSV senders' in the spellings operators use. */
const RAPID_PRO_PHONE = '+254700123456';
const RECOVERY_SPELLINGS = ['+254700123457', '254700123457', '00254700123457', 'tel:+254700123457', '+254 700 123458', '254700123458'];
/** Every way the numbers could show up: the digits (inside +…, 00…, tel:…) and the spaced spelling. */
const PHONE_NEEDLES = ['254700123456', '700123456', '254700123457', '700123457', '254 700 123458', '254700123458', '700123458'];

/** Every string and byte array in a value (a decoded history), as one text to search. */
function bytesAsText(value: unknown): string {
  const parts: string[] = [];
  const visit = (node: unknown): void => {
    if (node instanceof Uint8Array) parts.push(Buffer.from(node).toString('utf8'));
    else if (typeof node === 'string') parts.push(node);
    else if (node !== null && typeof node === 'object') Object.values(node).forEach(visit);
  };
  visit(value);
  return parts.join('\n');
}

describe('secrets never leak', () => {
  let context: PipelineTestContext;
  let rawClient: Client;
  let rapidPro: RapidProServer;
  let dataHome: string;
  let deps: ActivityDeps;
  let config: PipelineConfig;
  let run: FinishedRun;
  const workerLog: string[] = [];

  before(async () => {
    context = await createPipelineTestContext('secrets');
    // What the server stores, as a client without the key sees it.
    rawClient = new Client({ connection: await Connection.connect({ address: testServers.temporalAddress }) });
    rapidPro = await startDemoRapidProServer({ token: TOKEN, until: new Date('2026-11-01T00:00:00Z'), activationRuns: 60, surveyRuns: 20 });
    const contact = rapidPro.addContact(RAPID_PRO_PHONE, `Caller ${MARKER.slice(0, 4)}`);
    const activation = rapidPro.flows.find((flow) => flow.kind === 'activation')!;
    const survey = rapidPro.flows.find((flow) => flow.kind === 'survey')!;
    rapidPro.addRun(activation, contact, new Date('2026-10-30T10:00:00Z'), 'we need clean water in our village');
    rapidPro.addRun(survey, contact, new Date('2026-10-30T10:05:00Z'));

    dataHome = await temporaryFolder('secrets-home');
    // The worker's log lines, every level, as its console would get them.
    const logger = pino({ level: 'trace' }, { write: (line: string) => void workerLog.push(line) });
    deps = { dataHome, blobStore: testBlobStore(join(dataHome, '.buckets')), logger, now: () => new Date() };

    const secrets = join(dataHome, 'secrets');
    await mkdir(secrets, { recursive: true });
    await writeFile(join(secrets, 'rapid-pro.token'), `${TOKEN}\n`);
    const recovery = ['Sender,Message,ReceivedOn', ...RECOVERY_SPELLINGS.map((sender, index) => `${sender},"recovered message ${index} about the clinic",2026-10-2${index} 09:00:00`)];
    await writeFile(join(secrets, 'recovery.csv'), `${recovery.join('\r\n')}\r\n`);
    await cp(join(PROJECT_ROOT, 'config', 'examples', 'demo-raw'), join(dataHome, 'secrets-run', 'raw'), { recursive: true });

    const example = await loadPipelineConfig(join(PROJECT_ROOT, 'config', 'examples', 'demo-pipeline.yaml'));
    config = {
      ...example,
      pipelineName: 'secrets',
      description: `Weekly pull; the Rapid Pro token is in the secrets folder (${MARKER}), ask before sharing`,
      dataRoot: 'secrets-run',
      operatorWaitLimit: '0s',
      stages: example.stages.map((stage) => {
        if (stage.stage === 'fetch-sources') {
          return {
            ...stage,
            sources: [
              ...stage.sources.map((source) => ({ ...source, baseUrl: rapidPro.baseUrl, tokenFileUrl: pathToFileURL(join(secrets, 'rapid-pro.token')).href })),
              { kind: 'recovery-csv' as const, name: 'recovery', activationFlowUrls: [pathToFileURL(join(secrets, 'recovery.csv')).href], surveyFlowUrls: [] },
            ],
            sourceKeyRemappings: [...stage.sourceKeyRemappings, { sourceKey: 'Message', pipelineKey: 'rqa_s01e01_raw', isActivationMessage: true }],
          };
        }
        if (stage.stage === 'upload-logs') return { ...stage, destination: `file://${join(dataHome, 'uploads')}/` };
        return stage;
      }) as PipelineConfig['stages'],
    };
    run = await context.runToEnd(deps, { config });
  });
  after(async () => {
    await rapidPro?.stop();
    await rawClient?.connection.close();
    await context?.close();
  });

  it('ran the weekly pipeline with the token and the numbers in its sources', () => {
    assert.equal(run.manifest.status, 'succeeded', run.manifest.stages.map((stage) => `${stage.name}: ${stage.error ?? stage.status}`).join('; '));
    // The numbers were really read: the stand-in served the contact, and the token was really used.
    assert.ok(rapidPro.requests.some((request) => request.endpoint.includes('runs') && request.status === 200), 'runs were fetched with the token');
  });

  it('keeps the token and the numbers out of logs, manifests and every output', async () => {
    const texts: Array<{ where: string; text: string }> = [{ where: 'worker log', text: workerLog.join('') }];
    for (const file of await allFiles(dataHome)) {
      const where = relative(dataHome, file);
      // The inputs themselves, and the de-identification table whose job is to hold the numbers.
      if (where.startsWith('secrets/') || where.startsWith('.uuid-tables/')) continue;
      texts.push({ where, text: (await readFile(file)).toString('latin1') });
    }
    assert.ok(texts.some(({ where }) => where.includes('manifest')), `a manifest among ${texts.length} files`);
    assert.ok(texts.some(({ where }) => where.startsWith(`secrets-run/logs/`)), 'the run log');
    assert.ok(texts.some(({ where }) => where.startsWith('.drive/')), 'the Drive folder');
    assert.ok(texts.some(({ where }) => where.startsWith('uploads/')), 'the uploaded logs');
    assert.deepEqual(leaks(texts, [TOKEN, ...PHONE_NEEDLES, MARKER]), []);
  });

  it('keeps them out of what the CLI prints about the run', async () => {
    const env = { ...process.env, TEMPORAL_ADDRESS: testServers.temporalAddress, PIPELINE_TASK_QUEUE: context.taskQueue, PIPELINE_DATA_HOME: dataHome, LOG_LEVEL: 'debug' };
    const outputs: Array<{ where: string; text: string }> = [];
    for (const args of [['status', run.runId], ['status', run.runId, '--json'], ['list']]) {
      const { stdout, stderr } = await runCli(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'client', 'cli.ts'), ...args], { cwd: PROJECT_ROOT, env });
      outputs.push({ where: `pipeline ${args.join(' ')}`, text: stdout + stderr });
    }
    assert.match(outputs[0]!.text, new RegExp(run.runId), 'status names the run');
    // The operator's own client decrypts the record, so the description may show there; the token and numbers never do.
    assert.deepEqual(leaks(outputs, [TOKEN, ...PHONE_NEEDLES]), []);
  });

  it('stores the history with the marker only encrypted, and never the token or the numbers', async () => {
    const history = await rawClient.workflow.getHandle(run.workflowId).fetchHistory();
    const children = (history.events ?? []).flatMap((event) => (event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ? [event.startChildWorkflowExecutionInitiatedEventAttributes.workflowId] : []));
    const histories = [history, ...(await Promise.all(children.map((id) => rawClient.workflow.getHandle(id).fetchHistory())))];
    for (const stored of histories) {
      const bytes = Buffer.from(temporal.api.history.v1.History.encode(stored).finish()).toString('latin1');
      assert.deepEqual(leaks([{ where: 'stored history', text: bytes }], [TOKEN, ...PHONE_NEEDLES, MARKER]), []);
      // Decoded with the key: the config's free text is there (so the check above could have failed) …
      const decodedText = bytesAsText(decryptPayloadsIn(stored));
      if (stored === history) assert.ok(decodedText.includes(MARKER), 'the decoded start input holds the description');
      // … but the token and the numbers never were.
      assert.deepEqual(leaks([{ where: 'decoded history', text: decodedText }], [TOKEN, ...PHONE_NEEDLES]), []);
    }
    // Search attributes, memo and the run's summary and details, as listed: plain, so without the marker.
    const description = await rawClient.workflow.getHandle(run.workflowId).describe();
    const listed = bytesAsText({ searchAttributes: description.typedSearchAttributes, memo: description.memo, userMetadata: description.raw.executionConfig?.userMetadata });
    assert.match(listed, /secrets/, 'the listing shows the pipeline name');
    assert.deepEqual(leaks([{ where: 'listing', text: listed }], [TOKEN, ...PHONE_NEEDLES, MARKER]), []);
  });
});
