import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

import { WORKFLOWS_PATH } from '../worker/create-worker';

const FIXTURES = join(__dirname, 'fixtures', 'histories');

describe('replay of recorded histories', () => {
  it('replays every history recorded from real runs (npm run record-history) with the current workflow code', async () => {
    const files = (await readdir(FIXTURES)).filter((name) => name.endsWith('.json'));
    assert.ok(files.length > 0, 'no recorded history to replay');
    const histories = await Promise.all(
      files.map(async (name) => ({ workflowId: name.replace(/\.json$/, ''), history: historyFromJSON(JSON.parse(await readFile(join(FIXTURES, name), 'utf8'))) })),
    );
    for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH }, histories)) {
      assert.equal(result.error, undefined, `${result.workflowId}: ${String(result.error)}`);
    }
  });
});
