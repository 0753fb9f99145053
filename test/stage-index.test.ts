import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { findCompletedStage, recordCompletedStage } from '../activities/runs/stage-index';
import { LocalBlobStore } from '../activities/storage/local-blob-store';
import { temporaryFolder } from './helpers/environment';

describe('skip-if-done index', () => {
  it('reuses a completed stage whose outputs name folders (QA) while they exist, and not once one is gone', async () => {
    const root = await temporaryFolder('stage-index');
    const blobStore = new LocalBlobStore(join(root, '.buckets'));
    const folder = join(root, 'qa', 'run-1', 'dataset_1');
    await mkdir(folder, { recursive: true });
    const report = join(root, 'qa', 'run-1', 'report.html');
    await writeFile(report, '<html></html>');
    const outputs = { dataset_1: { uri: pathToFileURL(folder).href }, report: { uri: pathToFileURL(report).href, bytes: 13 } };
    await recordCompletedStage(root, { runId: 'run-1', stage: 'qa', inputsHash: 'h', completedAt: '2026-11-22T00:00:00Z', outputs });

    assert.equal((await findCompletedStage(root, 'qa', 'h', blobStore))?.runId, 'run-1');
    await rm(folder, { recursive: true });
    assert.equal(await findCompletedStage(root, 'qa', 'h', blobStore), undefined);
  });
});
