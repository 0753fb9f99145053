import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { msToNumber } from '@temporalio/common/lib/time';

import { AlreadyExistsError, BadInputError } from '../activities/errors';
import { STAGE_REGISTRY } from '../activities/registry';
import { temporaryPathFor, writeFileAtomic } from '../activities/storage/atomic-write';
import { GcsBlobStore } from '../activities/storage/gcs-blob-store';
import { digestBuffer } from '../activities/storage/hashing';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { sweepStaleTemporaryFiles } from '../activities/storage/temp-sweep';
import { parsePipelineConfig } from '../config/pipeline-config';
import { LONGEST_STAGE_ATTEMPT_MS } from '../config/schema-parts';
import { createTestBucket, fakeGcsStorage, temporaryFolder } from './helpers/environment';

describe('atomic writes', () => {
  it('leaves no temporary file behind and refuses to replace with noOverwrite', async () => {
    const folder = await temporaryFolder('atomic');
    const path = join(folder, 'out', 'a.json');
    await writeFileAtomic(path, 'first');
    await writeFileAtomic(path, 'second');
    assert.equal(await readFile(path, 'utf8'), 'second');
    await assert.rejects(writeFileAtomic(path, 'third', { noOverwrite: true }), AlreadyExistsError);
    assert.equal(await readFile(path, 'utf8'), 'second');
    assert.deepEqual(await readdir(join(folder, 'out')), ['a.json']);
  });

  it('sweeps temporary files older than the longest attempt any config allows, and only those', async () => {
    const folder = await temporaryFolder('sweep');
    const stale = temporaryPathFor(join(folder, 'synth', 'run-1', 'big.csv'));
    const fresh = temporaryPathFor(join(folder, 'backups', 'data-run-2.tar.gz'));
    await mkdir(dirname(stale), { recursive: true });
    await mkdir(dirname(fresh), { recursive: true });
    await writeFile(stale, 'x'.repeat(1000));
    await writeFile(fresh, 'y');
    await writeFile(join(folder, 'synth', 'run-1', 'kept.csv'), 'data');
    const dayAndAnHourAgo = new Date(Date.now() - 25 * 3600_000);
    await utimes(stale, dayAndAnHourAgo, dayAndAnHourAgo);
    await utimes(join(folder, 'synth', 'run-1', 'kept.csv'), dayAndAnHourAgo, dayAndAnHourAgo);

    // No attempt may run longer, whatever its stage's policy or a config's override says.
    assert.equal(LONGEST_STAGE_ATTEMPT_MS, 24 * 3600_000);
    for (const entry of STAGE_REGISTRY) assert.ok(msToNumber(entry.definition.policy.startToCloseTimeout) <= LONGEST_STAGE_ATTEMPT_MS, entry.definition.name);
    assert.throws(() => parsePipelineConfig({ pipelineName: 'p', dataRoot: 'p', stages: [{ stage: 'backup-data-root', startToCloseTimeout: '25 hours' }] }), /stages\[0\]\.startToCloseTimeout: at most 24 hours/);
    assert.deepEqual(await sweepStaleTemporaryFiles(folder, LONGEST_STAGE_ATTEMPT_MS), { removed: 1, bytes: 1000 });
    assert.equal(existsSync(stale), false);
    assert.equal(existsSync(fresh), true, 'a temporary file an attempt may still be writing stays');
    assert.equal(existsSync(join(folder, 'synth', 'run-1', 'kept.csv')), true, 'finished files are never touched');
  });
});

describe('local blob store', () => {
  it('keeps gs:// objects under the buckets root, never overwrites, and reports checksums', async () => {
    const folder = await temporaryFolder('local-blobs');
    const store = new LocalBlobStore(join(folder, 'buckets'));
    const source = join(folder, 'report.txt');
    await writeFile(source, 'hello buckets');
    const stored = await store.putFile(source, 'gs://avf-logs/run/report.txt');
    assert.equal(stored.location, pathToFileURL(join(folder, 'buckets', 'avf-logs', 'run', 'report.txt')).href);
    assert.equal(stored.md5, digestBuffer(Buffer.from('hello buckets')).md5);
    await assert.rejects(store.putFile(source, 'gs://avf-logs/run/report.txt'), AlreadyExistsError);
    assert.equal(await store.stat('gs://avf-logs/run/missing.txt'), undefined);
    const viaFileUri = await store.stat(stored.location);
    assert.equal(viaFileUri?.bytes, 13);
    assert.throws(() => store.pathOf('gs://avf-logs/../escape'), BadInputError);
  });
});

describe('Cloud Storage blob store (fake-gcs-server)', () => {
  const storage = fakeGcsStorage();
  const store = new GcsBlobStore(storage);
  let bucket: string;
  let folder: string;
  before(async () => {
    bucket = await createTestBucket(storage, 'blob-store');
    folder = await temporaryFolder('gcs-blobs');
  });

  it('uploads, verifies the md5 and refuses a second upload of the same name (generation precondition)', async () => {
    const first = join(folder, 'first.txt');
    const second = join(folder, 'second.txt');
    await writeFile(first, 'version one');
    await writeFile(second, 'version two, different');
    const uri = `gs://${bucket}/logs/file.txt`;
    const stored = await store.putFile(first, uri, { contentType: 'text/plain' });
    assert.equal(stored.md5, digestBuffer(Buffer.from('version one')).md5);
    assert.equal(stored.bytes, 11);
    await assert.rejects(store.putFile(second, uri), AlreadyExistsError);
    const [content] = await storage.bucket(bucket).file('logs/file.txt').download();
    assert.equal(content.toString(), 'version one');
  });

  it('uploads large files resumably with the same guarantees', async () => {
    const large = join(folder, 'large.bin');
    const data = Buffer.alloc(9 * 1024 * 1024, 7);
    await writeFile(large, data);
    const stored = await store.putFile(large, `gs://${bucket}/large.bin`);
    assert.equal(stored.md5, digestBuffer(data).md5);
    await assert.rejects(store.putFile(large, `gs://${bucket}/large.bin`), AlreadyExistsError);
  });

  it('reports a missing bucket as bad input, not a transient error', async () => {
    const file = join(folder, 'x.txt');
    await writeFile(file, 'x');
    await assert.rejects(store.putFile(file, 'gs://no-such-bucket-here/x.txt'), BadInputError);
    assert.equal(await store.stat(`gs://${bucket}/never-written.txt`), undefined);
  });
});
