import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { msToNumber } from '@temporalio/common/lib/time';

import { AlreadyExistsError, BadInputError } from '../activities/errors';
import { STAGE_REGISTRY } from '../activities/registry';
import { TEMP_FILE_PATTERN, temporaryPathFor, temporaryTagOf, temporaryTagOfName, withTemporaryTag, writeFileAtomic } from '../activities/storage/atomic-write';
import { GcsBlobStore } from '../activities/storage/gcs-blob-store';
import { digestBuffer } from '../activities/storage/hashing';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { removeTaggedTemporaryFiles, sweepStaleTemporaryFiles, temporaryNamesIn } from '../activities/storage/temp-sweep';
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

  it("names an activity's temporary files with its tag, and removes that tag's files alone, except those a heartbeat names", async () => {
    const folder = await temporaryFolder('tagged');
    const buckets = await temporaryFolder('tagged-buckets');
    const tag = temporaryTagOf('pipeline-demo-run-1', '7');
    assert.match(tag, /^[0-9a-f]{8}$/);
    assert.equal(temporaryTagOf('pipeline-demo-run-1', '7'), tag, 'every attempt of one activity has one tag');
    assert.notEqual(temporaryTagOf('pipeline-demo-run-1', '8'), tag);
    assert.notEqual(temporaryTagOf('pipeline-demo-run-2', '7'), tag);

    // What a crashed attempt left: two half-written files in the data root, one in a local bucket, and the
    // partial file its last heartbeat named; beside them, another activity's temporary file and data.
    const crashed = await withTemporaryTag(tag, async () => [
      temporaryPathFor(join(folder, 'synth', 'run-1', 'big.csv')),
      temporaryPathFor(join(folder, 'backups', 'data-run-1.tar.gz')),
      temporaryPathFor(join(buckets, 'logs', 'runs', 'data-run-1.tar.gz')),
    ]);
    const partial = await withTemporaryTag(tag, async () => temporaryPathFor(join(folder, 'raw', 'rapid-pro', 'run-1', 'flow.jsonl')));
    const other = await withTemporaryTag(temporaryTagOf('pipeline-demo-run-1', '8'), async () => temporaryPathFor(join(folder, 'synth', 'run-1', 'other.csv')));
    const untagged = temporaryPathFor(join(folder, 'synth', 'run-1', 'untagged.csv'));
    for (const path of [...crashed, partial, other, untagged, join(folder, 'synth', 'run-1', 'kept.csv')]) {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, 'half');
    }
    for (const path of [...crashed, partial, other, untagged]) assert.match(path.slice(path.lastIndexOf('/') + 1), TEMP_FILE_PATTERN, 'backups and the sweep still know them');
    for (const path of [...crashed, partial]) assert.equal(temporaryTagOfName(path.slice(path.lastIndexOf('/') + 1)), tag);
    assert.equal(temporaryTagOfName('kept.csv'), undefined);

    const heartbeat = { version: 1, unit: { name: 'flow.jsonl', partial: { temp: partial.slice(partial.lastIndexOf('/') + 1), bytes: 4 } } };
    assert.deepEqual([...temporaryNamesIn(heartbeat)], [heartbeat.unit.partial.temp]);
    // The buckets root given twice and a folder inside the data root are walked once.
    const removed = await removeTaggedTemporaryFiles([folder, buckets, join(folder, 'synth'), buckets], tag, temporaryNamesIn(heartbeat));
    assert.deepEqual(removed, { removed: 3, bytes: 12 });
    for (const path of crashed) assert.equal(existsSync(path), false, path);
    for (const path of [partial, other, untagged, join(folder, 'synth', 'run-1', 'kept.csv')]) assert.equal(existsSync(path), true, path);
    assert.deepEqual(await removeTaggedTemporaryFiles([folder], tag), { removed: 1, bytes: 4 }, 'without a heartbeat naming it, the partial file goes too');
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
