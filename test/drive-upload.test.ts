/**
 * drive-upload through runStage against a local server speaking Drive v3 and the OAuth token endpoint
 * (the production JWT flow, pointed there by the key's token_uri): folders found or created under a
 * shared folder, a file of the same name replaced (same id, a new revision) and never duplicated — also
 * after a lost reply or a crashed attempt —, resumable uploads above the threshold with their bytes
 * intact, rate limits waited out, credentials and permission problems as bad input naming Drive, and the
 * local folder standing in for Drive with the same semantics.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import pino from 'pino';

import { DriveUnavailableError } from '../activities/drive/drive-requests';
import { createDriveUploadImplementation, type DriveUploadRef } from '../activities/drive/drive-upload';
import { type DriveUploadConfig, driveUploadConfigSchema } from '../activities/drive/drive-upload.stage';
import { BadInputError } from '../activities/errors';
import { runStage,type StageContext } from '../activities/runs/stage-runner';
import type { StageOutputs } from '../activities/runs/types';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { temporaryFolder } from './helpers/environment';
import { DriveServer, FOLDER } from './servers/drive-server';

const ACCOUNT = 'pipeline-uploads@avf-test-project.iam.gserviceaccount.com';

function keyPair() {
  return generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
}

describe('drive-upload', () => {
  let server: DriveServer;
  let work: string;
  let buckets: string;
  let privateKey: string;
  const sleeps: number[] = [];
  const logs: string[] = [];
  const implementation = createDriveUploadImplementation({ retry: { backoffMs: 1, sleep: async (ms) => void sleeps.push(ms) } });

  before(async () => {
    work = await temporaryFolder('drive-upload');
    buckets = join(work, 'buckets');
    const keys = keyPair();
    privateKey = keys.privateKey;
    server = new DriveServer();
    await server.start();
    server.addServiceAccount(ACCOUNT, keys.publicKey);
    // The key lives in a (local) bucket, as the seed's DriveCredentialsFileURL does.
    await writeKey(join(buckets, 'avf-secrets', 'drive-key.json'), privateKey);
  });

  after(async () => {
    await server.stop();
  });

  async function writeKey(path: string, key: string, extra: Record<string, unknown> = {}): Promise<void> {
    await mkdir(join(path, '..'), { recursive: true });
    const json = { type: 'service_account', project_id: 'avf-test-project', private_key_id: 'k1', private_key: key, client_email: ACCOUNT, token_uri: `${server.baseUrl}/token`, ...extra };
    await writeFile(path, JSON.stringify(json));
  }

  /** Upstream outputs as generate-outputs and analysis-graphs leave them: file:// URIs in the data root. */
  async function upstreamFiles(dataRoot: string, files: { messages?: string | Buffer; individuals?: string; graphs?: Record<string, string | Buffer> }) {
    const upstream: Record<string, StageOutputs> = {};
    const outputsDir = join(dataRoot, 'outputs', 'r0');
    await mkdir(outputsDir, { recursive: true });
    for (const [key, content] of [['messages.csv', files.messages], ['individuals.csv', files.individuals]] as const) {
      if (content === undefined) continue;
      await writeFile(join(outputsDir, key), content);
      (upstream['generate-outputs'] ??= {})[key] = { uri: pathToFileURL(join(outputsDir, key)).href };
    }
    if (files.graphs) {
      const graphsDir = join(dataRoot, 'graphs', 'r0');
      await mkdir(graphsDir, { recursive: true });
      for (const [name, content] of Object.entries(files.graphs)) {
        await writeFile(join(graphsDir, name), content);
        (upstream['analysis-graphs'] ??= {})[name] = { uri: pathToFileURL(join(graphsDir, name)).href };
      }
    }
    return upstream;
  }

  function context(options: { dataRoot: string; runId: string; stage: Record<string, unknown>; upstream: Record<string, StageOutputs>; dataHome?: string; onProgress?: (details: Record<string, unknown>) => void }): StageContext<DriveUploadConfig> {
    const stage = driveUploadConfigSchema.parse({ stage: 'drive-upload', ...options.stage });
    return {
      request: { runId: options.runId, pipelineName: 'weekly-survey', dataRoot: options.dataRoot, stage, upstream: options.upstream, overwrite: false },
      dataRoot: options.dataRoot,
      dataHome: options.dataHome ?? join(work, 'home'),
      blobStore: new LocalBlobStore(buckets),
      logger: pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) }),
      now: () => new Date(),
      reportProgress: (details) => options.onProgress?.(JSON.parse(JSON.stringify(details)) as Record<string, unknown>),
      signal: new AbortController().signal,
      openUuidTable: () => Promise.reject(new Error('drive-upload opens no UUID table')),
      openCodaStore: () => Promise.reject(new Error('drive-upload opens no Coda store')),
    };
  }

  const drive = (extra: Record<string, unknown> = {}) => ({ backend: 'drive', credentialsFileUrl: 'gs://avf-secrets/drive-key.json', rootUrl: `${server.baseUrl}/`, ...extra });
  const refOf = (outputs: StageOutputs, path: string) => outputs[path] as DriveUploadRef;

  it('creates the folders under the shared folder and uploads each file once, by multipart', async () => {
    server.shareFolder("Bob's \\ Project"); // a quote and a backslash: escaped in every q
    const dataRoot = join(work, 'first');
    const png = randomBytes(3000);
    const upstream = await upstreamFiles(dataRoot, { messages: 'uuid,text\na,hello\n', individuals: 'uuid,gender\na,f\n', graphs: { 'messages_per_week.csv': 'week,messages\n1,3\n', 'messages_per_week.png': png } });
    const stage = { destination: drive(), messagesUploadPath: "Bob's \\ Project/Outputs/Weekly/messages.csv", individualsUploadPath: "Bob's \\ Project/Outputs/Weekly/individuals.csv", automatedAnalysisDir: "Bob's \\ Project/Automated Analysis" };
    const before = server.requests.length;
    const result = await runStage(implementation, context({ dataRoot, runId: 'r1', stage, upstream }), 1);

    assert.equal(result.status, 'succeeded');
    const messages = server.fileAt("Bob's \\ Project/Outputs/Weekly/messages.csv");
    assert.equal(messages.revisions.length, 1);
    assert.equal(messages.revisions[0]!.content.toString(), 'uuid,text\na,hello\n');
    assert.equal(messages.mimeType, 'text/csv');
    assert.equal(server.entriesAt("Bob's \\ Project/Outputs").length, 1, 'one Outputs folder');
    assert.equal(server.fileAt("Bob's \\ Project/Outputs").mimeType, FOLDER);
    assert.ok(server.fileAt("Bob's \\ Project/Automated Analysis/messages_per_week.png").revisions[0]!.content.equals(png));
    assert.deepEqual(Object.keys(result.outputs).sort(), [
      "Bob's \\ Project/Automated Analysis/messages_per_week.csv",
      "Bob's \\ Project/Automated Analysis/messages_per_week.png",
      "Bob's \\ Project/Outputs/Weekly/individuals.csv",
      "Bob's \\ Project/Outputs/Weekly/messages.csv",
    ]);
    const ref = refOf(result.outputs, "Bob's \\ Project/Outputs/Weekly/messages.csv");
    assert.equal(ref.fileId, messages.id);
    assert.equal(ref.uri, `https://drive.google.com/file/d/${messages.id}/view`);
    assert.equal(ref.action, 'created');
    assert.equal(ref.bytes, 18);
    assert.match(ref.sha256, /^[0-9a-f]{64}$/);
    const requests = server.requests.slice(before);
    assert.equal(requests.filter((r) => r.uploadType === 'multipart').length, 4);
    assert.equal(requests.filter((r) => r.uploadType === 'resumable').length, 0);
    assert.equal(requests.filter((r) => r.operation === 'create' && !r.uploadType).length, 3, 'three folders created: Outputs, Weekly, Automated Analysis');
    assert.equal(requests.filter((r) => r.operation === 'token').length, 1, 'one access token for the whole attempt');
    assert.ok(!logs.join('\n').includes('PRIVATE KEY'), 'the key never reaches a log');
  });

  it('replaces a changed file (same id, a new revision) and leaves an unchanged one alone; the same inputs again are skipped', async () => {
    server.shareFolder('Replace');
    const dataRoot = join(work, 'replace');
    const stage = { destination: drive(), messagesUploadPath: 'Replace/Out/messages.csv', individualsUploadPath: 'Replace/Out/individuals.csv' };
    const first = await runStage(implementation, context({ dataRoot, runId: 'r1', stage, upstream: await upstreamFiles(dataRoot, { messages: 'v1\n', individuals: 'same\n' }) }), 1);
    const id = refOf(first.outputs, 'Replace/Out/messages.csv').fileId;

    const second = await runStage(implementation, context({ dataRoot, runId: 'r2', stage, upstream: await upstreamFiles(dataRoot, { messages: 'v2, longer\n', individuals: 'same\n' }) }), 1);
    assert.equal(second.status, 'succeeded');
    assert.equal(refOf(second.outputs, 'Replace/Out/messages.csv').action, 'replaced');
    assert.equal(refOf(second.outputs, 'Replace/Out/messages.csv').fileId, id);
    assert.equal(refOf(second.outputs, 'Replace/Out/individuals.csv').action, 'unchanged');
    const messages = server.fileAt('Replace/Out/messages.csv'); // exactly one file of that name
    assert.equal(messages.id, id);
    assert.deepEqual(messages.revisions.map((revision) => revision.content.toString()), ['v1\n', 'v2, longer\n']);
    assert.equal(server.fileAt('Replace/Out/individuals.csv').revisions.length, 1);
    assert.ok(server.requests.some((r) => r.method === 'PATCH' && r.uploadType === 'media'), 'content replaced by a media upload');

    const before = server.requests.length;
    const third = await runStage(implementation, context({ dataRoot, runId: 'r3', stage, upstream: await upstreamFiles(dataRoot, { messages: 'v2, longer\n', individuals: 'same\n' }) }), 1);
    assert.equal(third.status, 'skipped');
    assert.equal(server.requests.length, before, 'a skipped stage asks Drive nothing');
  });

  it('trashes same-named duplicates another tool left, keeping the oldest', async () => {
    const shared = server.shareFolder('Duplicates');
    const oldest = server.addFile({ name: 'messages.csv', parentId: shared, content: Buffer.from('old 1') });
    const newer = server.addFile({ name: 'messages.csv', parentId: shared, content: Buffer.from('old 2') });
    const dataRoot = join(work, 'duplicates');
    const result = await runStage(implementation, context({ dataRoot, runId: 'r1', stage: { destination: drive(), messagesUploadPath: 'Duplicates/messages.csv' }, upstream: await upstreamFiles(dataRoot, { messages: 'new\n' }) }), 1);
    assert.equal(refOf(result.outputs, 'Duplicates/messages.csv').fileId, oldest.id);
    assert.equal(server.fileAt('Duplicates/messages.csv').id, oldest.id);
    assert.equal(newer.trashed, true);
    assert.equal(oldest.revisions.at(-1)!.content.toString(), 'new\n');
  });

  it('does not duplicate a file whose creation reply was lost, nor after an attempt crashed between files', async () => {
    server.shareFolder('Crash');
    const dataRoot = join(work, 'crash');
    const upstream = await upstreamFiles(dataRoot, { messages: 'm\n', individuals: 'i\n' });
    const stage = { destination: drive(), messagesUploadPath: 'Crash/messages.csv', individualsUploadPath: 'Crash/individuals.csv' };

    // Drive creates messages.csv (uploads go in config order) but its reply is lost: the retry finds it.
    server.injectFault({ operation: 'create', status: 503, times: 1, afterCommit: true });
    // Then the worker dies on the heartbeat after that first file, before the second.
    const crash = new Error('worker lost');
    const first = context({ dataRoot, runId: 'r1', stage, upstream });
    first.reportProgress = (details) => {
      if (details.file === 1) throw crash;
    };
    await assert.rejects(runStage(implementation, first, 1), (err) => err === crash);
    assert.equal(server.entriesAt('Crash/messages.csv').length, 1);
    assert.equal(server.entriesAt('Crash/individuals.csv').length, 0);

    const retried = await runStage(implementation, context({ dataRoot, runId: 'r1', stage, upstream }), 2);
    assert.equal(retried.status, 'succeeded');
    for (const name of ['messages.csv', 'individuals.csv']) {
      assert.equal(server.entriesAt(`Crash/${name}`).length, 1, `one ${name}`);
      assert.equal(server.fileAt(`Crash/${name}`).revisions.length, 1, `${name} uploaded once`);
    }
    assert.equal(refOf(retried.outputs, 'Crash/messages.csv').action, 'unchanged', 'found with its bytes already there');
    assert.equal(refOf(retried.outputs, 'Crash/individuals.csv').action, 'created');
  });

  it('uploads above the threshold by resumable upload in 256 KiB chunks, resuming after a lost chunk and an expired session', async () => {
    server.shareFolder('Large');
    const dataRoot = join(work, 'large');
    const big = randomBytes(5 * 256 * 1024 + 12345);
    const stage = { destination: drive({ resumableAboveBytes: 256 * 1024, chunkBytes: 256 * 1024 }), messagesUploadPath: 'Large/Exports/messages.csv', individualsUploadPath: 'Large/Exports/individuals.csv' };
    const before = server.requests.length;
    server.injectFault({ operation: 'upload-chunk', status: 503, times: 1, afterCommit: true });
    const progress: number[] = [];
    const first = await runStage(implementation, context({ dataRoot, runId: 'r1', stage, upstream: await upstreamFiles(dataRoot, { messages: big, individuals: 'small\n' }), onProgress: (details) => {
      if (details.file === 1 && typeof details.bytesSent === 'number') progress.push(details.bytesSent);
    } }), 1);
    const stored = server.fileAt('Large/Exports/messages.csv');
    assert.ok(stored.revisions[0]!.content.equals(big), 'the bytes arrive intact');
    assert.equal(refOf(first.outputs, 'Large/Exports/messages.csv').action, 'created');
    const requests = server.requests.slice(before);
    assert.equal(requests.filter((r) => r.operation === 'upload-session').length, 1);
    const chunks = requests.filter((r) => r.operation === 'upload-chunk');
    assert.equal(chunks.filter((r) => r.contentRange?.startsWith('bytes */')).length, 1, 'one status query after the lost chunk reply');
    assert.equal(chunks.filter((r) => r.status === 308).length, 5);
    assert.equal(requests.filter((r) => r.uploadType === 'multipart').length, 1, 'the small file in one request');
    const partial = progress.filter((bytes) => bytes > 0 && bytes < big.length);
    assert.ok(partial.length >= 4 && partial.every((bytes) => bytes % (256 * 1024) === 0) && progress.includes(big.length), `progress reported per chunk: ${progress.join(' ')}`);

    // Replacing it also goes resumable (PATCH), and a session Drive forgets mid-way starts again.
    const changed = randomBytes(3 * 256 * 1024 + 1);
    let expired = false;
    const second = await runStage(implementation, context({ dataRoot, runId: 'r2', stage, upstream: await upstreamFiles(dataRoot, { messages: changed, individuals: 'small\n' }), onProgress: (details) => {
      if (!expired && details.bytesSent === 2 * 256 * 1024) {
        expired = true;
        server.expireSessions();
      }
    } }), 1);
    assert.ok(expired);
    assert.equal(refOf(second.outputs, 'Large/Exports/messages.csv').action, 'replaced');
    assert.equal(server.fileAt('Large/Exports/messages.csv').id, stored.id);
    assert.equal(stored.revisions.length, 2);
    assert.ok(stored.revisions[1]!.content.equals(changed));
    assert.equal(server.requests.filter((r) => r.operation === 'upload-session' && r.method === 'PATCH').length, 2, 'a second session after the first expired');
  });

  it('waits out rate limits (403 userRateLimitExceeded / rateLimitExceeded, 429) and leaves persisting ones to a later attempt', async () => {
    server.shareFolder('Limits');
    const dataRoot = join(work, 'limits');
    const upstream = await upstreamFiles(dataRoot, { messages: 'x\n' });
    const stage = { destination: drive(), messagesUploadPath: 'Limits/Sub/messages.csv' };
    server.injectFault({ operation: 'list', status: 403, reason: 'userRateLimitExceeded', times: 1 });
    server.injectFault({ operation: 'create', status: 429, times: 2 });
    server.injectFault({ operation: 'list', status: 403, reason: 'rateLimitExceeded', times: 1 });
    sleeps.length = 0;
    const result = await runStage(implementation, context({ dataRoot, runId: 'r1', stage, upstream }), 1);
    assert.equal(result.status, 'succeeded');
    assert.equal(server.fileAt('Limits/Sub/messages.csv').revisions.length, 1);
    assert.equal(server.entriesAt('Limits/Sub').length, 1, 'one folder despite the retried creation');
    assert.ok(sleeps.length >= 3, `waited before retrying (${sleeps.length} waits)`);
    assert.ok(logs.some((line) => line.includes('"event":"DriveRetry"')));

    server.clearFaults();
    server.injectFault({ operation: 'list', status: 429, times: 100 });
    await assert.rejects(runStage(implementation, context({ dataRoot: join(work, 'limits2'), runId: 'r1', stage, upstream }), 1), (err) => err instanceof DriveUnavailableError && /still failing after 5 retries/.test(err.message));
    server.clearFaults();
  });

  it('fails for good, naming Google Drive and the path, on credentials and permission problems', async () => {
    const dataRoot = join(work, 'refused');
    const upstream = await upstreamFiles(dataRoot, { messages: 'x\n' });
    server.shareFolder('ReadOnly', 'reader');
    const isBadInput = (pattern: RegExp) => (err: unknown) => {
      assert.ok(err instanceof BadInputError, `expected BadInputError, got ${String(err)}`);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes('PRIVATE KEY'));
      return true;
    };
    const run = (stage: Record<string, unknown>) => runStage(implementation, context({ dataRoot, runId: `r${Math.random()}`, stage, upstream }), 1);

    await assert.rejects(run({ destination: drive(), messagesUploadPath: 'Not Shared/messages.csv' }), isBadInput(/^Google Drive: no folder "Not Shared" is shared with pipeline-uploads@/));
    await assert.rejects(run({ destination: drive(), messagesUploadPath: 'ReadOnly/Out/messages.csv' }), isBadInput(/^Google Drive refused finding or creating the folder ReadOnly\/Out \(403 insufficientFilePermissions/));
    await assert.rejects(run({ destination: drive(), messagesUploadPath: 'ReadOnly/messages.csv' }), isBadInput(/^Google Drive refused uploading ReadOnly\/messages.csv \(403 insufficientFilePermissions/));

    // A key the token endpoint does not know (another key pair), a missing key, a file that is no key.
    await writeKey(join(buckets, 'avf-secrets', 'revoked-key.json'), keyPair().privateKey);
    await assert.rejects(run({ destination: drive({ credentialsFileUrl: 'gs://avf-secrets/revoked-key.json' }), messagesUploadPath: 'ReadOnly/messages.csv' }), isBadInput(/^Google Drive refused the service account pipeline-uploads@.* \(key gs:\/\/avf-secrets\/revoked-key.json\) .*invalid_grant Invalid JWT Signature/));
    await assert.rejects(run({ destination: drive({ credentialsFileUrl: 'gs://avf-secrets/missing.json' }), messagesUploadPath: 'ReadOnly/messages.csv' }), isBadInput(/^Google Drive: no service account key at gs:\/\/avf-secrets\/missing.json/));
    await writeFile(join(buckets, 'avf-secrets', 'not-a-key.json'), JSON.stringify({ type: 'authorized_user', refresh_token: 'r' }));
    await assert.rejects(run({ destination: drive({ credentialsFileUrl: 'gs://avf-secrets/not-a-key.json' }), messagesUploadPath: 'ReadOnly/messages.csv' }), isBadInput(/is not a service account key/));

    // An upload the config lists whose upstream output is missing names the option.
    await assert.rejects(
      runStage(implementation, context({ dataRoot, runId: 'r9', stage: { destination: drive(), individualsUploadPath: 'ReadOnly/individuals.csv' }, upstream }), 1),
      isBadInput(/^individualsUploadPath: no individuals.csv from a generate-outputs stage/),
    );
    await assert.rejects(runStage(implementation, context({ dataRoot, runId: 'r9', stage: { automatedAnalysisDir: 'A' }, upstream }), 1), isBadInput(/^automatedAnalysisDir: no analysis-graphs stage/));
  });

  it('checks its options: at least one upload, file paths below a shared folder, chunk sizes Drive accepts', () => {
    const problems = (stage: Record<string, unknown>) => {
      const parsed = driveUploadConfigSchema.safeParse({ stage: 'drive-upload', ...stage });
      return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    };
    assert.deepEqual(problems({}), ['messagesUploadPath: name at least one of messagesUploadPath, individualsUploadPath, automatedAnalysisDir']);
    assert.match(problems({ messagesUploadPath: 'messages.csv' })[0]!, /^messagesUploadPath: a file path names the shared folder first/);
    assert.match(problems({ messagesUploadPath: 'P/../messages.csv' })[0]!, /^messagesUploadPath: segments/);
    assert.match(problems({ automatedAnalysisDir: 'P', destination: drive({ chunkBytes: 300000 }) })[0]!, /^destination.chunkBytes: a multiple of 256 KiB/);
    assert.deepEqual(problems({ automatedAnalysisDir: 'Project/Analysis/' }), []);
    assert.equal(driveUploadConfigSchema.parse({ stage: 'drive-upload', automatedAnalysisDir: 'Project/Analysis/' }).automatedAnalysisDir, 'Project/Analysis');
  });

  it('uploads graphs only into the local folder standing in for Drive, with the same replace semantics', async () => {
    const dataHome = join(work, 'home-local');
    const dataRoot = join(dataHome, 'weekly-survey');
    const stage = { automatedAnalysisDir: 'Project/Automated Analysis' }; // the default destination: local
    const first = await runStage(implementation, context({ dataRoot, dataHome, runId: 'r1', stage, upstream: await upstreamFiles(dataRoot, { graphs: { 'a.csv': 'v1', 'b.svg': '<svg/>' } }) }), 1);
    const folder = join(dataHome, '.drive', 'weekly-survey', 'Project', 'Automated Analysis');
    assert.deepEqual((await readdir(folder)).sort(), ['a.csv', 'b.svg']);
    assert.equal(refOf(first.outputs, 'Project/Automated Analysis/a.csv').action, 'created');
    assert.equal(refOf(first.outputs, 'Project/Automated Analysis/a.csv').uri, pathToFileURL(join(folder, 'a.csv')).href);

    const second = await runStage(implementation, context({ dataRoot, dataHome, runId: 'r2', stage, upstream: await upstreamFiles(dataRoot, { graphs: { 'a.csv': 'v2', 'b.svg': '<svg/>' } }) }), 1);
    assert.equal(refOf(second.outputs, 'Project/Automated Analysis/a.csv').action, 'replaced');
    assert.equal(refOf(second.outputs, 'Project/Automated Analysis/b.svg').action, 'unchanged');
    assert.deepEqual((await readdir(folder)).sort(), ['a.csv', 'b.svg'], 'replaced in place: no second file, no temporary left');
    assert.equal(await readFile(join(folder, 'a.csv'), 'utf8'), 'v2');
  });
});
