import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';

import { pipelineDataConverter } from '../config/data-converter';
import { PayloadKeyring } from '../config/payload-encryption';
import { parseKeyList } from '../config/payload-keys';
import { WORKFLOWS_PATH } from '../worker/create-worker';

const FIXTURES = join(__dirname, 'fixtures', 'histories');

/** The key `npm run record-history` encrypts recorded histories with (a fixture, not a secret). */
async function fixtureKeyring(): Promise<PayloadKeyring> {
  const { keys, problems } = parseKeyList(await readFile(join(FIXTURES, 'fixture-encryption.key'), 'utf8'), 'fixture-encryption.key');
  assert.deepEqual(problems, []);
  return new PayloadKeyring(keys, keys[0]!.id);
}

describe('replay of recorded histories', () => {
  it('replays every history recorded from real runs (npm run record-history) with the current workflow code and data converter', async () => {
    const files = (await readdir(FIXTURES)).filter((name) => name.endsWith('.json'));
    assert.ok(files.length > 0, 'no recorded history to replay');
    const histories = await Promise.all(
      files.map(async (name) => ({ workflowId: name.replace(/\.json$/, ''), history: historyFromJSON(JSON.parse(await readFile(join(FIXTURES, name), 'utf8'))) })),
    );
    // Histories recorded before payloads were encrypted pass through the codec unchanged.
    for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH, dataConverter: pipelineDataConverter(await fixtureKeyring()) }, histories)) {
      assert.equal(result.error, undefined, `${result.workflowId}: ${String(result.error)}`);
    }
  });
});
