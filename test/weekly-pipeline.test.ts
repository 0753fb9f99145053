/**
 * The whole weekly pipeline on the real components: the dev server, Coda on the Firestore emulator, Drive
 * through its v3 stand-in (the production googleapis client and JWT flow), logs to fake-gcs-server, Rapid
 * Pro through its stand-in. A first run pushes the week's messages to Coda; a coder labels some; a second
 * run pulls them back, adds nothing twice, and replaces (never duplicates) the files in Drive.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { parse } from 'csv-parse/sync';

import type { ActivityDeps } from '../activities';
import { openCodaStore } from '../activities/coding/open-coda-store';
import { loadPlanCodeSchemes } from '../activities/coding/plan-code-schemes';
import { loadPipelineConfig } from '../config/load-config';
import type { PipelineConfig } from '../config/pipeline-config';
import { codeLikeAPerson } from '../scripts/demo-coder';
import { PROJECT_ROOT } from '../scripts/lib/tools';
import { createTestBucket, fakeGcsStorage, temporaryFolder, testServers } from './helpers/environment';
import { uniqueName } from './helpers/firestore';
import { createPipelineTestContext, type PipelineTestContext, testBlobStore, testLogger } from './helpers/pipeline-worker';
import { DriveServer } from './servers/drive-server';
import { type RapidProServer, startDemoRapidProServer } from './servers/rapid-pro-server';

const ACCOUNT = 'weekly-uploads@avf-test-project.iam.gserviceaccount.com';
const TOKEN = randomBytes(20).toString('hex');

describe('the weekly pipeline on the emulators', () => {
  let context: PipelineTestContext;
  let rapidPro: RapidProServer;
  let drive: DriveServer;
  let dataHome: string;
  let deps: ActivityDeps;
  let config: PipelineConfig;
  let bucket: string;
  const storage = fakeGcsStorage();

  before(async () => {
    // The worker (this process) opens the Coda store on the emulator, as a worker with this variable would.
    process.env.FIRESTORE_EMULATOR_HOST = testServers.firestoreEmulatorHost;
    context = await createPipelineTestContext('weekly');
    rapidPro = await startDemoRapidProServer({ token: TOKEN, until: new Date('2026-11-01T00:00:00Z'), activationRuns: 150, surveyRuns: 40 });
    drive = new DriveServer();
    await drive.start();
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    drive.addServiceAccount(ACCOUNT, keys.publicKey);
    drive.shareFolder('Weekly Project');
    dataHome = await temporaryFolder('weekly-home');
    deps = { dataHome, blobStore: testBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date() };
    bucket = await createTestBucket(storage, 'weekly-logs');

    const secrets = join(dataHome, 'secrets');
    await mkdir(secrets, { recursive: true });
    await writeFile(join(secrets, 'rapid-pro.token'), `${TOKEN}\n`);
    await writeFile(
      join(secrets, 'drive-key.json'),
      JSON.stringify({ type: 'service_account', project_id: 'avf-test-project', private_key_id: 'k1', private_key: keys.privateKey, client_email: ACCOUNT, token_uri: `${drive.baseUrl}/token` }),
    );
    await cp(join(PROJECT_ROOT, 'config', 'examples', 'demo-raw', 'code-schemes'), join(dataHome, 'weekly', 'raw', 'code-schemes'), { recursive: true });

    // The demo's weekly pipeline, pointed at the real components instead of the embedded default.
    const example = await loadPipelineConfig(join(PROJECT_ROOT, 'config', 'examples', 'demo-pipeline.yaml'));
    config = {
      ...example,
      pipelineName: 'weekly',
      dataRoot: 'weekly',
      operatorWaitLimit: '0s',
      coding: { ...example.coding!, store: { backend: 'firestore', name: 'coda', projectId: uniqueName('weekly-coda') } },
      stages: example.stages.map((stage) => {
        if (stage.stage === 'fetch-sources') {
          return { ...stage, uuidTable: { ...stage.uuidTable, table: 'weekly-phones' }, sources: stage.sources.map((source) => ({ ...source, baseUrl: rapidPro.baseUrl, tokenFileUrl: pathToFileURL(join(secrets, 'rapid-pro.token')).href })) };
        }
        if (stage.stage === 'drive-upload') {
          return {
            ...stage,
            destination: { backend: 'drive' as const, credentialsFileUrl: pathToFileURL(join(secrets, 'drive-key.json')).href, rootUrl: drive.baseUrl, resumableAboveBytes: 5 * 1024 * 1024, chunkBytes: 8 * 1024 * 1024 },
            messagesUploadPath: 'Weekly Project/Outputs/messages.csv',
            individualsUploadPath: 'Weekly Project/Outputs/individuals.csv',
            automatedAnalysisDir: 'Weekly Project/Automated Analysis',
          };
        }
        if (stage.stage === 'upload-logs') return { ...stage, destination: `gs://${bucket}/weekly/` };
        return stage;
      }) as PipelineConfig['stages'],
    };
  });
  after(async () => {
    await rapidPro?.stop();
    await drive?.stop();
    await context?.close();
  });

  it('runs twice around a coder: coded data comes back, nothing is added twice, Drive files are replaced', async () => {
    const first = await context.runToEnd(deps, { config });
    assert.equal(first.manifest.status, 'succeeded', first.manifest.stages.map((stage) => `${stage.name}: ${stage.error ?? stage.status}`).join('; '));
    const addedFirst = JSON.parse(await readFile(fileURLToPath(first.manifest.stages[3]!.outputs.summary!.uri), 'utf8')) as { datasets: Record<string, { added: number }> };
    assert.ok(addedFirst.datasets.s01e01!.added > 10);

    const coding = config.coding!;
    const opened = await openCodaStore(coding.store, { dataHome });
    try {
      const session = await codeLikeAPerson(opened.store, coding, await loadPlanCodeSchemes(join(dataHome, 'weekly'), coding), new Date());
      assert.equal(session.stopped, 1);
    } finally {
      await opened.close();
    }

    const second = await context.runToEnd(deps, { config });
    assert.equal(second.manifest.status, 'succeeded', second.manifest.stages.map((stage) => `${stage.name}: ${stage.error ?? stage.status}`).join('; '));
    const byName = Object.fromEntries(second.manifest.stages.map((stage) => [stage.name, stage]));
    const addedSecond = JSON.parse(await readFile(fileURLToPath(byName['coda-add']!.outputs.summary!.uri), 'utf8')) as { datasets: Record<string, { added: number }> };
    assert.equal(addedSecond.datasets.s01e01!.added, 0, 'the second run adds nothing already in Coda');

    // Coda on the emulator: each text once, sequence numbers unique.
    const check = await openCodaStore(coding.store, { dataHome });
    try {
      const segments = await check.store.readMessages('DEMO_s01e01', new Map());
      const stored = segments.flatMap((segment) => segment.documents.map((document) => document.data as { MessageID: string; SequenceNumber: number }));
      assert.equal(new Set(stored.map((message) => message.MessageID)).size, stored.length);
      assert.equal(new Set(stored.map((message) => message.SequenceNumber)).size, stored.length);
      assert.equal(stored.length, addedFirst.datasets.s01e01!.added);
    } finally {
      await check.close();
    }

    const messages = parse(await readFile(fileURLToPath(byName['generate-outputs']!.outputs['messages.csv']!.uri)), { columns: true }) as Array<Record<string, string>>;
    assert.ok(messages.some((row) => row.rqa_s01e01 === 'water'), 'coded themes in the outputs');
    assert.ok(messages.every((row) => row.text !== 'Stop sending me these messages'), 'consent withdrawn');

    // Drive: one messages.csv, replaced by the second run (a new revision of the same file).
    const uploaded = drive.fileAt('Weekly Project/Outputs/messages.csv');
    assert.equal(uploaded.revisions.length, 2);
    assert.equal(uploaded.revisions.at(-1)?.content.toString('utf8'), await readFile(fileURLToPath(byName['generate-outputs']!.outputs['messages.csv']!.uri), 'utf8'));
    assert.equal(drive.entriesAt('Weekly Project/Automated Analysis/codes_rqa_s01e01.png').length, 1);

    const [objects] = await storage.bucket(bucket).getFiles({ prefix: 'weekly/' });
    assert.ok(objects.some((object) => object.name === `weekly/${second.runId}.log`));
  });
});
