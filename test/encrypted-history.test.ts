/**
 * Free text from a config reaches Temporal only encrypted. A run whose config `description` holds a fake
 * token runs on the dev server; its history, fetched by a client without the codec (what the server
 * stores and what anyone listing runs sees), holds the token in no byte, while the search attributes,
 * the run's summary and details and the stages' summaries stay readable and hold no config free text.
 * With the key, the same history decrypts to the full config; the `temporal` CLI shows it decrypted
 * through the codec server, and encrypted without it; the Web UI (its codec endpoint set to the test
 * run's codec server) shows the decrypted input.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { chromium } from 'playwright-core';

import type { ActivityDeps } from '../activities';
import { SEARCH_ATTRIBUTES } from '../config/constants';
import { ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../config/payload-encryption';
import { parsePipelineConfig } from '../config/pipeline-config';
import { isPlainUiText } from '../config/ui-text';
import { findTool, TOOLS } from '../scripts/lib/tools';
import { WORKFLOWS_PATH } from '../worker/create-worker';
import { decryptPayloadsIn, testDataConverter, testKeyring } from './helpers/encryption';
import { temporaryFolder, testServers } from './helpers/environment';
import { createPipelineTestContext, type FinishedRun, type PipelineTestContext, testBlobStore, testLogger } from './helpers/pipeline-worker';

const run = promisify(execFile);

/** Every payload in a history, with the path of fields holding it. */
function payloadsOf(value: unknown, path: string[] = [], found: Array<{ path: string[]; payload: Payload }> = []): Array<{ path: string[]; payload: Payload }> {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  if (Array.isArray(value)) {
    for (const item of value) payloadsOf(item, path, found);
    return found;
  }
  const record = value as Record<string, unknown>;
  if (record.metadata && typeof record.metadata === 'object' && 'encoding' in (record.metadata as object)) {
    found.push({ path, payload: record as Payload });
    return found;
  }
  for (const [key, child] of Object.entries(record)) payloadsOf(child, [...path, key], found);
  return found;
}

const text = (bytes: Uint8Array | null | undefined): string => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');

describe('config free text in Temporal: encrypted in history, absent from what stays plain', () => {
  // Lower-case letters, digits and "-": it also fits in a bucket name, which errors quote.
  const token = `tok-${randomBytes(12).toString('hex')}`;
  const description = `Rapid Pro token for the weekly pull: ${token} (do not share)`;
  let context: PipelineTestContext;
  let rawClient: Client;
  let deps: ActivityDeps;
  let dataHome: string;
  let succeeded: FinishedRun;
  let failed: FinishedRun;

  before(async () => {
    context = await createPipelineTestContext('encrypted-history');
    // What the server stores, as a client without the key sees it.
    rawClient = new Client({ connection: await Connection.connect({ address: testServers.temporalAddress }) });
    dataHome = await temporaryFolder('encrypted-history-home');
    deps = { dataHome, blobStore: testBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date() };
    const seed = async (name: string) => {
      await mkdir(join(dataHome, name, 'raw'), { recursive: true });
      await writeFile(join(dataHome, name, 'raw', 'messages.csv'), 'id,text\n1,hello\n');
    };
    await seed('secret-ok');
    await seed('secret-fails');
    succeeded = await context.runToEnd(deps, {
      config: parsePipelineConfig({
        pipelineName: 'secret-ok',
        description,
        dataRoot: 'secret-ok',
        stages: [{ stage: 'backup-data-root' }, { stage: 'upload-logs', destination: `file://${join(dataHome, 'uploads')}/` }],
      }),
    });
    // A failing stage: the error quotes the (missing) bucket, whose name holds the token too.
    failed = await context.runToEnd(deps, {
      config: parsePipelineConfig({
        pipelineName: 'secret-fails',
        description,
        dataRoot: 'secret-fails',
        operatorWaitLimit: '0s',
        stages: [{ stage: 'backup-data-root' }, { stage: 'upload-logs', destination: `gs://missing-${token}/logs/`, retry: { maximumAttempts: 1 } }],
      }),
    });
  });
  after(async () => {
    await rawClient?.connection.close();
    await context?.close();
  });

  it('ran both pipelines (one succeeded, one failed on a stage whose error quotes the token)', () => {
    assert.equal(succeeded.manifest.status, 'succeeded', String(succeeded.error));
    assert.equal(failed.manifest.status, 'failed');
    assert.match(failed.manifest.stages[1]!.error ?? '', new RegExp(token), 'the error quotes the bucket: the token is in the failure');
  });

  it('stores no byte of the token in either history: every payload is encrypted, or a plain summary of names and ids', async () => {
    const keyId = testKeyring().activeKeyId;
    for (const finished of [succeeded, failed]) {
      const history = await rawClient.workflow.getHandle(finished.workflowId).fetchHistory();
      const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
      assert.equal(bytes.includes(token), false, `${finished.workflowId}: the token is in the stored history`);
      assert.equal(bytes.includes('Rapid Pro token for'), false);

      const payloads = payloadsOf(history.events);
      let encrypted = 0;
      for (const { path, payload } of payloads) {
        const encoding = text(payload.metadata?.encoding);
        const field = path[path.length - 1];
        if (path.includes('searchAttributes')) continue; // names, ids and statuses, checked below
        if (path.includes('markerRecordedEventAttributes') && encoding === 'json/plain') {
          // The SDK's own patch markers (workflows' patched() ids), written by its core, not by a codec.
          assert.deepEqual(Object.keys(defaultPayloadConverter.fromPayload<object>(payload)).sort(), ['deprecated', 'id']);
          continue;
        }
        if (encoding === ENCRYPTED_ENCODING) {
          assert.equal(text(payload.metadata?.[KEY_ID_METADATA]), keyId);
          encrypted++;
          continue;
        }
        assert.equal(field === 'summary' || field === 'details', true, `${finished.workflowId}: a plain payload in ${field}: ${text(payload.data)}`);
        const shown = defaultPayloadConverter.fromPayload<string>(payload);
        assert.ok(isPlainUiText(shown), shown);
      }
      assert.ok(encrypted >= 6, `${finished.workflowId}: ${encrypted} encrypted payloads`);

      const start = history.events![0]!.workflowExecutionStartedEventAttributes!;
      assert.equal(text(start.input!.payloads![0]!.metadata!.encoding), ENCRYPTED_ENCODING, 'the start input (the config) is encrypted');
      const scheduled = history.events!.filter((event) => event.activityTaskScheduledEventAttributes);
      assert.ok(scheduled.length >= 3);
      for (const event of scheduled) {
        assert.equal(text(event.activityTaskScheduledEventAttributes!.input!.payloads![0]!.metadata!.encoding), ENCRYPTED_ENCODING, 'an activity input');
        assert.equal(text(event.userMetadata!.summary!.metadata!.encoding), 'json/plain', 'its summary stays readable');
      }
    }
  });

  it('moves failure messages and stack traces into encrypted payloads', async () => {
    const history = await rawClient.workflow.getHandle(failed.workflowId).fetchHistory();
    const failures = (history.events ?? []).flatMap((event) => [event.activityTaskFailedEventAttributes?.failure, event.workflowExecutionFailedEventAttributes?.failure]).filter((failure) => failure);
    assert.ok(failures.length >= 2, 'the activity failure and the run failure');
    for (const failure of failures) {
      assert.equal(failure!.message, 'Encoded failure');
      assert.equal(failure!.stackTrace ?? '', '');
      assert.equal(text(failure!.encodedAttributes!.metadata!.encoding), ENCRYPTED_ENCODING);
    }
    // With the key, the messages are all there.
    const decrypted = decryptPayloadsIn(history);
    const messages = (decrypted.events ?? [])
      .map((event) => event.workflowExecutionFailedEventAttributes?.failure?.encodedAttributes)
      .filter((payload): payload is Payload => Boolean(payload))
      .map((payload) => defaultPayloadConverter.fromPayload<{ message: string }>(payload).message);
    assert.match(messages.join('\n'), new RegExp(`stage upload-logs failed: .*missing-${token}`));
  });

  it('keeps search attributes, the run summary and details and the stage summaries plain, without the description', async () => {
    for (const finished of [succeeded, failed]) {
      const described = await rawClient.workflow.getHandle(finished.workflowId).describe();
      const summary = (await described.staticSummary()) ?? '';
      const details = (await described.staticDetails()) ?? '';
      const name = finished.workflowId.startsWith('pipeline-secret-ok') ? 'secret-ok' : 'secret-fails';
      assert.equal(summary, `Pipeline ${name}, run ${finished.runId}: backup-data-root → upload-logs`);
      assert.equal(details, [`**Pipeline:** ${name}`, `**Run id:** ${finished.runId}`, `**Data root:** ${name}`, '**Stages:** backup-data-root → upload-logs'].join('\n'));
      const attributes = Object.values(SEARCH_ATTRIBUTES).map((key) => described.typedSearchAttributes.get(key));
      assert.deepEqual(attributes, [name, finished.runId, 'upload-logs', finished === succeeded ? 'succeeded' : 'failed']);
      const history = await rawClient.workflow.getHandle(finished.workflowId).fetchHistory();
      const stageSummaries = (history.events ?? [])
        .filter((event) => event.activityTaskScheduledEventAttributes?.activityType?.name?.match(/^(backup-data-root|upload-logs)$/))
        .map((event) => defaultPayloadConverter.fromPayload<string>(event.userMetadata!.summary!));
      assert.deepEqual(stageSummaries, [`backup-data-root (stage 1 of 2) of ${name}`, `upload-logs (stage 2 of 2) of ${name}`]);
    }
  });

  it('decrypts with the key: the config, description included, is all in the history', async () => {
    const history = await context.client.workflow.getHandle(succeeded.workflowId).fetchHistory();
    const decrypted = decryptPayloadsIn(history);
    const input = defaultPayloadConverter.fromPayload<{ config: { description: string } }>(decrypted.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!);
    assert.equal(input.config.description, description);
    // Replay needs the same data converter: the encrypted history replays without nondeterminism.
    await Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, dataConverter: testDataConverter() }, history);
  });

  it('the temporal CLI shows the history decrypted through the codec server, and encrypted without it', async () => {
    const cli = findTool(TOOLS.temporal);
    assert.ok(cli, 'the temporal CLI');
    const show = (extra: string[]) => run(cli, ['workflow', 'show', '--address', testServers.temporalAddress, '-w', succeeded.workflowId, '-o', 'json', ...extra], { maxBuffer: 64 * 1024 * 1024 });
    // `-o json` prints payloads as proto3 JSON: metadata values and data in base64.
    const payloadTexts = (stdout: string) =>
      payloadsOf(JSON.parse(stdout) as unknown).map(({ payload }) => ({
        encoding: Buffer.from(String(payload.metadata!.encoding), 'base64').toString('utf8'),
        data: Buffer.from(String(payload.data ?? ''), 'base64').toString('utf8'),
      }));
    const plain = payloadTexts((await show([])).stdout);
    assert.ok(plain.some((payload) => payload.encoding === ENCRYPTED_ENCODING));
    assert.equal(plain.some((payload) => payload.data.includes(token)), false, 'without the codec server: ciphertext');
    const decoded = payloadTexts((await show(['--codec-endpoint', testServers.codecServerUrl])).stdout);
    assert.equal(decoded.some((payload) => payload.encoding === ENCRYPTED_ENCODING), false, 'every payload decrypted');
    assert.ok(decoded.some((payload) => payload.data.includes(`"description":"${description}"`)), 'decrypted through the codec server');
  });

  it('the Web UI shows the decrypted input through its codec server', async () => {
    const browser = await chromium.launch({ executablePath: testServers.chromium, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(`${testServers.temporalUiUrl}/namespaces/default/workflows/${encodeURIComponent(succeeded.workflowId)}`);
      // The Input pane holds the run config, decrypted by the browser's call to the codec server.
      await page.getByText(token).first().waitFor({ timeout: 30_000 });
      await page.getByText(`Pipeline secret-ok, run ${succeeded.runId}`).first().waitFor({ timeout: 10_000 });
    } finally {
      await browser.close();
    }
  });
});
