/**
 * raw/ files appended page by page (JsonlAppender) when an attempt is stopped between finishing a file and
 * the heartbeat that says so (heartbeats are throttled, so that window is seconds long): the retry, which
 * believes the file unfinished, must end with the same file, not fail on it (a failure the chaos test found).
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { AlreadyExistsError } from '../activities/errors';
import { JsonlAppender } from '../activities/sources/raw-files';
import { temporaryFolder } from './helpers/environment';

const pages = [[{ id: 1 }, { id: 2 }], [{ id: 3 }], [{ id: 4 }, { id: 5 }]];

async function writeAll(folder: string, from = 0, resume?: Parameters<typeof JsonlAppender.open>[2]) {
  const out = await JsonlAppender.open(folder, 'runs.jsonl', resume);
  const states = [];
  for (const page of pages.slice(from)) {
    await out.append(page);
    states.push(out.partial);
  }
  return { out, states };
}

describe('raw files finished by an attempt whose heartbeat was lost', () => {
  it('a retry from the start ends with the file the earlier attempt finished, the same bytes', async () => {
    const folder = await temporaryFolder('raw-files-');
    const first = await writeAll(folder);
    const finished = await first.out.finish();
    const bytes = await readFile(join(folder, 'runs.jsonl'));
    // The retry knew nothing of the finished file: it fetches every page again.
    const again = await writeAll(folder);
    const second = await again.out.finish();
    assert.deepEqual(second, finished);
    assert.deepEqual(await readFile(join(folder, 'runs.jsonl')), bytes);
    assert.deepEqual(await readdir(folder), ['runs.jsonl'], 'no temporary file left');
  });

  it('a retry from the last heartbeat (its partial file already renamed) continues from the finished file', async () => {
    const folder = await temporaryFolder('raw-files-');
    const first = await writeAll(folder);
    const afterFirstPage = first.states[0]!;
    const finished = await first.out.finish();
    const again = await writeAll(folder, 1, afterFirstPage);
    assert.deepEqual(await again.out.finish(), finished);
    assert.deepEqual(await readdir(folder), ['runs.jsonl']);
  });

  it('other bytes than the finished file are a conflict, never an overwrite', async () => {
    const folder = await temporaryFolder('raw-files-');
    const first = await writeAll(folder);
    await first.out.finish();
    const other = await JsonlAppender.open(folder, 'runs.jsonl');
    await other.append([{ id: 99 }]);
    await assert.rejects(other.finish(), AlreadyExistsError);
    assert.equal((await readFile(join(folder, 'runs.jsonl'), 'utf8')).split('\n')[0], '{"id":1}');
  });
});
