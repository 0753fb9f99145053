/**
 * File sources through Cloud Storage (fake-gcs-server): recovery CSVs with bad rows, bucket objects not
 * downloaded again when their checksum is unchanged; and the remap step — key remapping, timestamp
 * remapping and the project window — re-run on its own without fetching.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';

import type { Storage } from '@google-cloud/storage';
import pino from 'pino';

import { fetchSourcesWork } from '../activities/sources/fetch-sources';
import { fetchSourcesConfigSchema as fetchSourcesConfig } from '../activities/sources/fetch-sources.stage';
import { remapMessages } from '../activities/sources/remap';
import { BlobStoreRouter } from '../activities/storage/blob-store';
import { GcsBlobStore } from '../activities/storage/gcs-blob-store';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { createTestBucket, fakeGcsStorage, temporaryFolder } from './helpers/environment';
import { allFiles, leaks, readJsonl, RecordingUuidTable, sourcesContext } from './helpers/sources';

const PHONES = ['+254711000001', '+254711000002', '+254711000003'];

function recoveryCsv(): string {
  const rows = ['Sender,Message,ReceivedOn'];
  // The same three people written the ways operators write numbers.
  const spellings = (phone: string, i: number) => [phone.replace(/^\+254/, '+254 '), phone.slice(1), `00${phone.slice(1)}`, `tel:${phone}`][i % 4]!;
  for (let i = 0; i < 2500; i += 1) {
    const day = 1 + (i % 28);
    rows.push(`${spellings(PHONES[i % 3]!, i)},"msg ${i}, with a comma",2026-10-${String(day).padStart(2, '0')} 12:00:00`);
  }
  rows.push('12ab,"no number",2026-10-02 10:00:00');
  rows.push(`${PHONES[0]},"bad time",yesterday`);
  rows.push(`${PHONES[1]},"extra",2026-10-02 10:00:00,surplus`);
  rows.push(`${PHONES[2]},"before the project",2026-09-20T08:00:00Z`);
  return `${rows.join('\r\n')}\r\n`;
}

describe('fetch-sources: recovery CSV and bucket objects', () => {
  let storage: Storage;
  let bucket: string;
  let work: string;
  let blobStore: BlobStoreRouter;
  const logs: string[] = [];
  const results: string[] = [];

  before(async () => {
    storage = fakeGcsStorage();
    bucket = await createTestBucket(storage, 'sources');
    work = await temporaryFolder('sources-files');
    const local = new LocalBlobStore(join(work, 'buckets'));
    blobStore = new BlobStoreRouter({ file: local, gs: new GcsBlobStore(storage) });
    await storage.bucket(bucket).file('recovery/hormuud.csv').save(recoveryCsv());
    await storage.bucket(bucket).file('deid/activation.jsonl').save('{"participant_uuid":"avf-phone-uuid-1","rqa_raw":"hello","sent_on":"2026-10-03T10:00:00Z"}\n{"participant_uuid":"avf-phone-uuid-2","rqa_raw":"hi","sent_on":"2026-10-04T10:00:00Z"}\n');
  });

  function config(overrides: Record<string, unknown> = {}) {
    return {
      sources: [
        { kind: 'recovery-csv', name: 'recovery', activationFlowUrls: [`gs://${bucket}/recovery/hormuud.csv`] },
        { kind: 'gcloud-bucket', name: 'bucket', activationFlowUrls: [`gs://${bucket}/deid/activation.jsonl`] },
      ],
      uuidTable: { backend: 'local', table: 'phones', uuidPrefix: 'avf-phone-uuid-' },
      sourceKeyRemappings: [
        { sourceKey: 'Message', pipelineKey: 'rqa_s01e01_raw', isActivationMessage: true },
        { sourceKey: 'rqa_raw', pipelineKey: 'rqa_s01e01_raw', isActivationMessage: true },
      ],
      timestampRemappings: [
        { timeKey: 'received_at', showPipelineKeyToRemapTo: 'rqa_s01e02_raw', rangeStartInclusive: '2026-10-20T00:00:00Z', rangeEndExclusive: '2026-10-22T00:00:00Z', timeToAdjustTo: '2026-10-21T00:00:00Z' },
      ],
      projectStartDate: '2026-10-01T00:00:00Z',
      projectEndDate: '2026-10-25T00:00:00Z',
      ...overrides,
    };
  }

  it('turns recovery CSV rows into de-identified messages, bad rows into counted rejects', async () => {
    const dataRoot = join(work, 'root');
    const table = new RecordingUuidTable('avf-phone-uuid-');
    const harness = sourcesContext({ dataRoot, runId: 'r1', config: config(), table, now: new Date(), bucketsRoot: work, logs, blobStore });
    const outputs = await fetchSourcesWork.run(harness.context);
    results.push(JSON.stringify(outputs), JSON.stringify(harness.heartbeats));

    const folder = join(dataRoot, 'raw', 'recovery', 'r1');
    const rows = await readJsonl(join(folder, 'activation-hormuud.jsonl'));
    assert.equal(rows.length, 2501, '2500 good rows and the one dated before the project (filtered later, by remap)');
    assert.deepEqual([...table.forward.keys()].sort(), PHONES.map((phone) => `tel:${phone}`), 'four spellings, three people');
    assert.equal(new Set(rows.map((row) => row.participant_uuid)).size, 3);
    assert.equal(rows[0]!.Message, 'msg 0, with a comma');
    assert.equal(rows[0]!.ReceivedOn, '2026-10-01T12:00:00.000Z');
    const rejects = await readJsonl(join(folder, 'rejects.jsonl'));
    assert.deepEqual(
      rejects.map((r) => [(r.at as { row: number }).row, r.reason]),
      [
        [2501, 'Sender: not a valid phone number: contains letters'],
        [2502, 'ReceivedOn: not a date-time'],
        [2503, 'expected 3 cells, found 4'],
      ],
    );
    assert.equal((outputs['recovery/rejects.jsonl'] as { records?: number }).records, 3);

    const summary = JSON.parse(await readFile(join(dataRoot, 'raw', 'remapped', 'r1', 'summary.json'), 'utf8'));
    const messages = await readJsonl(join(dataRoot, 'raw', 'remapped', 'r1', 'messages.jsonl'));
    // Days 25–28 of October fall after the project end, and the September row before its start.
    const outside = Array.from({ length: 2500 }, (_, i) => 1 + (i % 28)).filter((day) => day >= 25).length + 1;
    assert.equal(summary.counts.outsideProjectWindow, outside);
    assert.equal(messages.length, 2500 + 2 - outside + 1, 'CSV rows and both bucket lines within the window');
    const moved = messages.filter((m) => 'rqa_s01e02_raw' in m);
    assert.ok(moved.length > 0 && moved.every((m) => m.received_at === '2026-10-21T00:00:00.000Z' && !('rqa_s01e01_raw' in m)));
    assert.equal(summary.counts.timestampRemapped, moved.length);
  });

  it('does not download a bucket object again while its checksum is unchanged', async () => {
    const dataRoot = join(work, 'root');
    const second = sourcesContext({ dataRoot, runId: 'r2', config: config(), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs, blobStore });
    await fetchSourcesWork.run(second.context);
    const first = join(dataRoot, 'raw', 'bucket', 'r1', 'activation-activation.jsonl');
    const again = join(dataRoot, 'raw', 'bucket', 'r2', 'activation-activation.jsonl');
    assert.equal((await stat(first)).ino, (await stat(again)).ino, 'linked, not downloaded');
    assert.ok(logs.some((line) => line.includes('"SourceObjectUnchanged"') && line.includes('"reusedFrom":"r1"')));

    await storage.bucket(bucket).file('deid/activation.jsonl').save('{"participant_uuid":"avf-phone-uuid-3","rqa_raw":"new","sent_on":"2026-10-05T10:00:00Z"}\n');
    const third = sourcesContext({ dataRoot, runId: 'r3', config: config(), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs, blobStore });
    const outputs = await fetchSourcesWork.run(third.context);
    results.push(JSON.stringify(outputs));
    const changed = join(dataRoot, 'raw', 'bucket', 'r3', 'activation-activation.jsonl');
    assert.notEqual((await stat(first)).ino, (await stat(changed)).ino);
    assert.equal((await readJsonl(changed)).length, 1);
    assert.equal((await readJsonl(first)).length, 2, 'the earlier run’s file is unchanged');
  });

  it('re-runs the remap alone, from raw/, without fetching', async () => {
    const dataRoot = join(work, 'root');
    const config2 = fetchSourcesConfig.parse({ stage: 'fetch-sources', ...config({ projectEndDate: '2026-11-01T00:00:00Z' }) });
    const result = await remapMessages({ dataRoot, runId: 'r3-remap', config: config2, logger: pino({ level: 'silent' }) });
    assert.equal(result.counts.outsideProjectWindow, 1, 'only the September row with the wider window');
    assert.ok(result.inputs.includes('recovery/r3/activation-hormuud.jsonl') && result.inputs.includes('bucket/r3/activation-activation.jsonl'));
    assert.ok(!result.inputs.some((input) => input.includes('/r1/')), 'the newest fetch of non-incremental sources only');
  });

  it('lets no phone number reach raw/, logs or results (the CSV is read outside the data root)', async () => {
    const texts = [
      { where: 'logs', text: logs.join('') },
      { where: 'results', text: results.join('') },
    ];
    for (const path of await allFiles(work)) texts.push({ where: path, text: await readFile(path, 'utf8') });
    assert.deepEqual(leaks(texts, PHONES.flatMap((phone) => [phone, phone.slice(1), phone.slice(4)])), []);
  });
});
