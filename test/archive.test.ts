import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir, readFile, truncate, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';

import { x as extractTar } from 'tar';

import { checkBackupSpace, createDataRootBackup } from '../activities/archive/backup-data-root';
import { fingerprintDataRoot } from '../activities/archive/data-root-files';
import { AlreadyExistsError, BadInputError } from '../activities/errors';
import { ensureDataRootLayout } from '../activities/runs/data-root';
import { BlobStoreRouter } from '../activities/storage/blob-store';
import { GcsBlobStore } from '../activities/storage/gcs-blob-store';
import { digestFile } from '../activities/storage/hashing';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { uploadFileOnce } from '../activities/storage/upload-once';
import { createTestBucket, fakeGcsStorage, temporaryFolder } from './helpers/environment';

async function filesUnder(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  async function walk(folder: string): Promise<void> {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) await walk(path);
      else files.set(relative(root, path), (await digestFile(path)).sha256);
    }
  }
  await walk(root);
  return files;
}

/** A data root with data in several layers, binary and unicode content, junk and an earlier backup. */
async function makeDataRoot(root: string): Promise<void> {
  await ensureDataRootLayout(root);
  await writeFile(join(root, 'raw', 'messages.csv'), 'id,text\n1,"hello, world"\n2,ñandú 🦜\n');
  await mkdir(join(root, 'synth', 'weekly', 'period-1'), { recursive: true });
  await writeFile(join(root, 'synth', 'weekly', 'period-1', 'dataset_1.csv'), 'a,b\n'.repeat(5000));
  await writeFile(join(root, 'coded', 'binary.bin'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) % 256)));
  await writeFile(join(root, 'raw', 'file with spaces.json'), '{"k": 1}');
  await writeFile(join(root, 'logs', 'earlier-run.log'), '{"msg":"x"}\n');
  // Never in a backup:
  await writeFile(join(root, 'raw', '.DS_Store'), 'junk');
  await writeFile(join(root, 'Thumbs.db'), 'junk');
  await writeFile(join(root, 'raw', '._messages.csv'), 'apple double');
  await writeFile(join(root, 'raw', '.messages.csv.tmp-0123456789ab'), 'half written');
  await writeFile(join(root, 'backups', 'data-older.tar.gz'), 'older backup');
}

describe('backup of the data root', () => {
  it('round-trips every data file, leaves out backups and junk, and writes a matching .sha256', async () => {
    const root = await temporaryFolder('data-root');
    await makeDataRoot(root);
    const archivePath = join(root, 'backups', 'data-20261121T000000.000Z-abc1234.tar.gz');
    const archive = await createDataRootBackup(root, archivePath);

    const checksumLine = await readFile(`${archivePath}.sha256`, 'utf8');
    assert.equal(checksumLine, `${(await digestFile(archivePath)).sha256}  data-20261121T000000.000Z-abc1234.tar.gz\n`);
    assert.equal(archive.sha256, (await digestFile(archivePath)).sha256);

    const extracted = await temporaryFolder('extracted');
    await extractTar({ file: archivePath, cwd: extracted });
    const expected = await filesUnder(root);
    for (const path of [...expected.keys()]) {
      if (path.startsWith('backups') || /(^|\/)(\.DS_Store|Thumbs\.db|\._.*|\..*\.tmp-[0-9a-f]{12})$/.test(path)) expected.delete(path);
    }
    assert.deepEqual(await filesUnder(extracted), expected);
    assert.equal(archive.files, expected.size);
    assert.ok(expected.has('raw/file with spaces.json') && expected.has('logs/earlier-run.log'));
  });

  it('refuses, before writing anything, an archive the disk could not hold, naming the size and the space free', async () => {
    const root = await temporaryFolder('full-disk');
    await makeDataRoot(root);
    const archivePath = join(root, 'backups', 'data-20261121T000000.000Z-abc1234.tar.gz');
    await checkBackupSpace(root, archivePath);
    // A sparse file: 8 TB as the file system reports its size, no disk used.
    await writeFile(join(root, 'raw', 'huge.bin'), '');
    await truncate(join(root, 'raw', 'huge.bin'), 8 * 2 ** 40);
    await assert.rejects(checkBackupSpace(root, archivePath), (err: Error) => err instanceof BadInputError && /backup archive of \d+ file\(s\) of the data root would take about \d{13,} bytes, and the disk of .* has \d+ bytes free/.test(err.message));
    assert.deepEqual(await readdir(join(root, 'backups')), ['data-older.tar.gz'], 'no archive, no temporary file');
  });

  it('fingerprints data, not bookkeeping: logs and manifests do not change it, data does', async () => {
    const root = await temporaryFolder('fingerprint');
    await makeDataRoot(root);
    const first = await fingerprintDataRoot(root);
    await appendFile(join(root, 'logs', 'earlier-run.log'), 'more\n');
    await writeFile(join(root, 'manifests', 'run.json'), '{}');
    await writeFile(join(root, 'backups', 'data-new.tar.gz'), 'x');
    assert.equal((await fingerprintDataRoot(root)).sha256, first.sha256);
    await utimes(join(root, 'raw', 'messages.csv'), new Date(), new Date(Date.now() + 5000));
    assert.notEqual((await fingerprintDataRoot(root)).sha256, first.sha256);
  });
});

describe('uploading run files', () => {
  const storage = fakeGcsStorage();
  const local = new LocalBlobStore('/nonexistent');
  const blobStore = new BlobStoreRouter({ file: local, gs: new GcsBlobStore(storage) });
  let bucket: string;
  let folder: string;
  before(async () => {
    bucket = await createTestBucket(storage, 'upload-logs');
    folder = await temporaryFolder('upload');
  });

  it('accepts an object already uploaded with the same content (a retried attempt)', async () => {
    const archive = join(folder, 'data.tar.gz');
    await writeFile(archive, 'archive bytes');
    const uri = `gs://${bucket}/runs/data.tar.gz`;
    const first = await uploadFileOnce(blobStore, { localPath: archive, contentType: 'application/gzip' }, uri);
    const again = await uploadFileOnce(blobStore, { localPath: archive, contentType: 'application/gzip' }, uri);
    assert.equal(first.alreadyPresent, false);
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.md5, first.md5);
  });

  it('refuses to replace an object with other content', async () => {
    const archive = join(folder, 'other.tar.gz');
    await writeFile(archive, 'one');
    const uri = `gs://${bucket}/runs/other.tar.gz`;
    await uploadFileOnce(blobStore, { localPath: archive, contentType: 'application/gzip' }, uri);
    await writeFile(archive, 'two');
    await assert.rejects(uploadFileOnce(blobStore, { localPath: archive, contentType: 'application/gzip' }, uri), AlreadyExistsError);
  });

  it('treats an uploaded beginning of a growing log as the same log', async () => {
    const log = join(folder, 'run.log');
    await writeFile(log, '{"msg":"one"}\n');
    const uri = `gs://${bucket}/runs/run.log`;
    const first = await uploadFileOnce(blobStore, { localPath: log, growing: true, contentType: 'application/x-ndjson' }, uri);
    await appendFile(log, '{"msg":"two"}\n');
    const again = await uploadFileOnce(blobStore, { localPath: log, growing: true, contentType: 'application/x-ndjson' }, uri);
    assert.equal(again.alreadyPresent, true);
    assert.equal(again.bytes, first.bytes);
    assert.deepEqual(await readdir(folder).then((names) => names.filter((name) => name.includes('.tmp-'))), []);
  });
});
