/**
 * Cloud faults, proven: the stages that talk to Cloud Storage and Firestore run with the production
 * clients pointed at fault-injecting proxies in front of fake-gcs-server and the Firestore emulator, which
 * delay, reset or drop about 30 % of connections (Firestore) or of requests (Cloud Storage, whose client
 * keeps one connection alive for all of them). The run must complete through retries; the proxies must
 * have injected every kind of fault; every uploaded object must match its local file (MD5 and CRC32C,
 * size), with nothing partial or extra in the bucket; Coda and the UUID table must hold each message and
 * each phone number once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { CRC32C } from '@google-cloud/storage';

import type { ActivityDeps } from '../activities';
import { openCodaStore } from '../activities/coding/open-coda-store';
import type { RunManifest } from '../activities/runs/types';
import { BlobStoreRouter } from '../activities/storage/blob-store';
import { OPERATION_TIMEOUT_ENV } from '../activities/storage/deadline';
import { digestBuffer } from '../activities/storage/hashing';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { loadPipelineConfig } from '../config/load-config';
import type { PipelineConfig } from '../config/pipeline-config';
import { PROJECT_ROOT } from '../scripts/lib/tools';
import { createGcsBlobStore } from '../worker/dependencies';
import { createTestBucket, fakeGcsStorage, temporaryFolder, testServers } from './helpers/environment';
import { FaultProxy } from './helpers/fault-proxy';
import { emulatorFirestore, uniqueName } from './helpers/firestore';
import { createPipelineTestContext, type PipelineTestContext, testLogger } from './helpers/pipeline-worker';
import { type RapidProServer, startDemoRapidProServer } from './servers/rapid-pro-server';

const SEED = Number(process.env.FAULT_SEED ?? 20261122);
/**
 * Faults for Firestore are drawn per connection: its gRPC client multiplexes every call over one HTTP/2
 * connection per client, and every TCP-level exchange there (pings, window updates) would otherwise count.
 * The stages open only a handful of clients, so the default seed is one whose first four connections hold
 * every kind of fault (pass, reset, drop, delay).
 */
const FIRESTORE_SEED = Number(process.env.FAULT_SEED_FIRESTORE ?? 20261128);
const PHONES = ['+254722000101', '+254722000102', '+254722000103', '+254722000104'];

function hostAndPort(hostPort: string): { host: string; port: number } {
  const url = new URL(hostPort.includes('://') ? hostPort : `http://${hostPort}`);
  return { host: url.hostname, port: Number(url.port) };
}

function crc32cOf(content: Buffer): string {
  const crc = new CRC32C();
  crc.update(content);
  return crc.toString();
}

function stageSummary(manifest: RunManifest): string {
  return manifest.stages.map((stage) => `${stage.name}: ${stage.error ?? stage.status} (${stage.attempts ?? '?'} attempts)`).join('; ');
}

describe('cloud faults: stages complete through a proxy that delays, resets and drops connections', () => {
  let context: PipelineTestContext;
  let rapidPro: RapidProServer;
  let gcsProxy: FaultProxy;
  let firestoreProxy: FaultProxy;
  let dataHome: string;
  let deps: ActivityDeps;
  let config: PipelineConfig;
  let bucket: string;
  let previousEmulatorHost: string | undefined;
  const storage = fakeGcsStorage(); // direct, for setting up and checking: never through the proxy
  const codaProject = uniqueName('faults-coda');
  const uuidProject = uniqueName('faults-uuids');

  before(async () => {
    console.log(`cloud faults seeds: FAULT_SEED=${SEED} FAULT_SEED_FIRESTORE=${FIRESTORE_SEED} (set them to repeat this run)`);
    // Faults for Cloud Storage are drawn per exchange: its client keeps one connection alive for every request.
    // Resets within the first 2 KB: a small request and its reply (metadata) are cut too, not only uploads;
    // a later reset can find its connection closed before its byte count and never fire.
    gcsProxy = await new FaultProxy({ target: hostAndPort(testServers.gcsEndpoint), seed: SEED, faultsPer: 'exchange', resetAfterBytes: [100, 2000] }).start();
    // Resets within the first few kilobytes: a client's connection can carry little more than a handshake and a call.
    firestoreProxy = await new FaultProxy({ target: hostAndPort(testServers.firestoreEmulatorHost), seed: FIRESTORE_SEED, resetAfterBytes: [200, 4000] }).start();
    // The worker (this process) opens Coda and the UUID table from this variable, as a deployed worker does.
    previousEmulatorHost = process.env.FIRESTORE_EMULATOR_HOST;
    process.env.FIRESTORE_EMULATOR_HOST = firestoreProxy.host;
    // A dropped call fails its attempt after 10 s instead of the 60 s default, so the test takes minutes.
    process.env[OPERATION_TIMEOUT_ENV] = '10000';

    context = await createPipelineTestContext('cloud-faults');
    const token = randomBytes(20).toString('hex');
    rapidPro = await startDemoRapidProServer({ token, until: new Date('2026-11-01T00:00:00Z'), activationRuns: 120, surveyRuns: 30 });
    dataHome = await temporaryFolder('faults-home');
    deps = {
      dataHome,
      blobStore: new BlobStoreRouter({ file: new LocalBlobStore(join(dataHome, '.buckets')), gs: createGcsBlobStore({ gcsApiEndpoint: gcsProxy.url, gcsProjectId: 'test-project', gcsRequestTimeoutMs: 3_000 }) }),
      logger: testLogger(),
      now: () => new Date(),
    };
    bucket = await createTestBucket(storage, 'faults');
    await storage.bucket(bucket).file('deid/activation.jsonl').save('{"participant_uuid":"avf-phone-uuid-b1","rqa_raw":"water is short here","sent_on":"2026-10-03T10:00:00Z"}\n{"participant_uuid":"avf-phone-uuid-b2","rqa_raw":"we need a clinic","sent_on":"2026-10-04T10:00:00Z"}\n');
    const recovery = ['Sender,Message,ReceivedOn', ...PHONES.flatMap((phone, index) => [`${phone},"recovered message ${index} about roads",2026-10-0${index + 2} 09:00:00`, `${phone.slice(1)},"second recovered message ${index}",2026-10-0${index + 2} 11:00:00`])];
    await storage.bucket(bucket).file('recovery/operator.csv').save(`${recovery.join('\r\n')}\r\n`);

    const secrets = join(dataHome, 'secrets');
    await mkdir(secrets, { recursive: true });
    await writeFile(join(secrets, 'rapid-pro.token'), `${token}\n`);
    await cp(join(PROJECT_ROOT, 'config', 'examples', 'demo-raw'), join(dataHome, 'faults', 'raw'), { recursive: true });

    const example = await loadPipelineConfig(join(PROJECT_ROOT, 'config', 'examples', 'demo-pipeline.yaml'));
    const synthetic = await loadPipelineConfig(join(PROJECT_ROOT, 'config', 'examples', 'synthetic-pipeline.yaml'));
    const byName = Object.fromEntries([...example.stages, ...synthetic.stages].map((stage) => [stage.stage, stage]));
    // Quick retries: every fault costs an attempt or a client retry, and the test should not wait minutes for them.
    const retry = { maximumAttempts: 30, initialInterval: '200ms', backoffCoefficient: 1.5, maximumInterval: '2s' };
    const fetch = byName['fetch-sources'] as Extract<PipelineConfig['stages'][number], { stage: 'fetch-sources' }>;
    config = {
      ...example,
      pipelineName: 'faults',
      dataRoot: 'faults',
      operatorWaitLimit: '0s',
      coding: { ...example.coding!, store: { backend: 'firestore', name: 'coda', projectId: codaProject } },
      stages: [
        {
          ...fetch,
          sources: [
            ...fetch.sources.map((source) => ({ ...source, baseUrl: rapidPro.baseUrl, tokenFileUrl: pathToFileURL(join(secrets, 'rapid-pro.token')).href })),
            { kind: 'gcloud-bucket', name: 'bucket', activationFlowUrls: [`gs://${bucket}/deid/activation.jsonl`], surveyFlowUrls: [] },
            { kind: 'recovery-csv', name: 'recovery', activationFlowUrls: [`gs://${bucket}/recovery/operator.csv`], surveyFlowUrls: [] },
          ],
          uuidTable: { backend: 'firestore', projectId: uuidProject, table: 'faults-phones', uuidPrefix: 'avf-phone-uuid-' },
          sourceKeyRemappings: [
            ...fetch.sourceKeyRemappings,
            { sourceKey: 'rqa_raw', pipelineKey: 'rqa_s01e01_raw', isActivationMessage: true },
            { sourceKey: 'Message', pipelineKey: 'rqa_s01e01_raw', isActivationMessage: true },
          ],
        },
        byName['coda-get']!,
        byName['generate-outputs']!,
        byName['coda-add']!,
        { ...byName['generate-synthetic']!, destination: `gs://${bucket}/synth/` },
        byName['backup-data-root']!,
        { ...byName['upload-logs']!, destination: `gs://${bucket}/logs/` },
      ].map((stage) => ({ ...stage, retry })) as PipelineConfig['stages'],
    };
  });
  after(async () => {
    delete process.env[OPERATION_TIMEOUT_ENV];
    if (previousEmulatorHost === undefined) delete process.env.FIRESTORE_EMULATOR_HOST;
    else process.env.FIRESTORE_EMULATOR_HOST = previousEmulatorHost;
    await rapidPro?.stop();
    await context?.close();
    await gcsProxy?.close();
    await firestoreProxy?.close();
  });

  it('completes, with every upload verified and every message and phone number stored once', async () => {
    const started = Date.now();
    const run = await context.runToEnd(deps, { config });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`cloud faults: run ${run.manifest.status} in ${seconds} s; ${stageSummary(run.manifest)}`);
    console.log(`cloud faults: gcs proxy ${JSON.stringify(gcsProxy.counters)}`);
    console.log(`cloud faults: firestore proxy ${JSON.stringify(firestoreProxy.counters)}`);
    assert.equal(run.manifest.status, 'succeeded', stageSummary(run.manifest));

    // The proxies really did their worst: every kind of fault on the GCS side, faults on the Firestore side.
    for (const kind of ['delayed', 'reset', 'dropped'] as const) assert.ok(gcsProxy.counters[kind] > 0, `GCS proxy: ${kind} > 0`);
    // A planned reset may find its connection closed before its byte count (counters.reset says how many fired).
    for (const kind of ['delayed', 'resetPlanned', 'dropped'] as const) assert.ok(firestoreProxy.counters[kind] > 0, `Firestore proxy: ${kind} > 0`);
    const faultShare = gcsProxy.faults / gcsProxy.plans.length;
    assert.ok(faultShare >= 0.2 && faultShare <= 0.4, `about 30 % of GCS exchanges faulty (${(faultShare * 100).toFixed(0)} %)`);

    // Every object in the bucket is one the run uploaded, whole: size, MD5 and CRC32C equal the local file's.
    const stages = Object.fromEntries(run.manifest.stages.map((stage) => [stage.name, stage]));
    const expected = new Map<string, Buffer>();
    for (const [key, output] of Object.entries(stages['generate-synthetic']!.outputs)) {
      if (!key.endsWith('.uploaded')) continue;
      const local = stages['generate-synthetic']!.outputs[key.slice(0, -'.uploaded'.length)]!;
      expected.set(output.uri, await readFile(fileURLToPath(local.uri)));
    }
    const archive = stages['backup-data-root']!.outputs;
    const logs = stages['upload-logs']!.outputs;
    expected.set(logs.archive!.uri, await readFile(fileURLToPath(archive.archive!.uri)));
    expected.set(logs.checksum!.uri, await readFile(fileURLToPath(archive.checksum!.uri)));
    // The log grew after its upload: the object is the log as it was then, a prefix of the file now.
    const log = await readFile(join(dataHome, 'faults', 'logs', `${run.runId}.log`));
    expected.set(logs.log!.uri, log.subarray(0, logs.log!.bytes));
    assert.ok(expected.size >= 5, `uploads: ${[...expected.keys()].join(', ')}`);

    const [objects] = await storage.bucket(bucket).getFiles({ versions: true });
    const uploaded = objects.filter((object) => !object.name.startsWith('deid/') && !object.name.startsWith('recovery/'));
    assert.deepEqual(uploaded.map((object) => `gs://${bucket}/${object.name}`).sort(), [...expected.keys()].sort(), 'each upload once, nothing else');
    for (const object of uploaded) {
      const content = expected.get(`gs://${bucket}/${object.name}`)!;
      const [metadata] = await object.getMetadata();
      assert.equal(Number(metadata.size), content.length, `${object.name}: size`);
      assert.equal(metadata.md5Hash, digestBuffer(content).md5, `${object.name}: md5`);
      assert.equal(metadata.crc32c, crc32cOf(content), `${object.name}: crc32c`);
    }

    // Coda, read straight from the emulator: each message once, sequence numbers unique.
    const added = JSON.parse(await readFile(fileURLToPath(stages['coda-add']!.outputs.summary!.uri), 'utf8')) as { datasets: Record<string, { added: number }> };
    const coda = await openCodaStore(config.coding!.store, { dataHome, env: { FIRESTORE_EMULATOR_HOST: testServers.firestoreEmulatorHost } });
    try {
      for (const dataset of config.coding!.datasets) {
        const segments = await coda.store.readMessages(dataset.codaDatasetId, new Map());
        const stored = segments.flatMap((segment) => segment.documents.map((document) => document.data as { MessageID: string; SequenceNumber: number }));
        assert.equal(new Set(stored.map((message) => message.MessageID)).size, stored.length, `${dataset.name}: each message once`);
        assert.equal(new Set(stored.map((message) => message.SequenceNumber)).size, stored.length, `${dataset.name}: unique sequence numbers`);
        assert.equal(stored.length, added.datasets[dataset.name]!.added, `${dataset.name}: as many as the stage added`);
      }
    } finally {
      await coda.close();
    }

    // The UUID table: one mapping per phone number, no uuid given twice.
    const firestore = emulatorFirestore(uuidProject);
    try {
      const mappings = await firestore.collection('tables').doc('faults-phones').collection('mappings').get();
      const uuids = mappings.docs.map((doc) => doc.get('uuid') as string);
      const ids = mappings.docs.map((doc) => doc.get('id') as string);
      assert.equal(new Set(uuids).size, uuids.length, 'no uuid given twice');
      // Each number was written twice in the CSV (with and without its +): one mapping, keyed by its tel: URN.
      for (const phone of PHONES) assert.equal(ids.filter((id) => id === `tel:${phone}`).length, 1, `${phone} mapped once`);
    } finally {
      await firestore.terminate();
    }

    // Once the network recovers, the calls the stages' deadlines gave up on finish, and every Firestore client
    // the stages opened is terminated after them: no connection stays open (a client is never left behind).
    firestoreProxy.heal();
    const deadline = Date.now() + 60_000;
    while (firestoreProxy.openConnections > 0) {
      assert.ok(Date.now() < deadline, `${firestoreProxy.openConnections} Firestore connections still open 60 s after the faults ended`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
