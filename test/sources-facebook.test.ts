/**
 * The Facebook source against a local server speaking the Graph API: comments of posts by id and of
 * posts found by a search window, cursor pagination, replies with their parent, Graph error codes, a
 * crash resumed from its heartbeat, and no token, commenter id or name in anything written.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import { BadInputError } from '../activities/errors';
import { fetchSources, fetchSourcesWork } from '../activities/sources/fetch-sources';
import { SourceUnavailableError } from '../activities/sources/http';
import { temporaryFolder } from './helpers/environment';
import { allFiles, leaks, readJsonl, RecordingUuidTable, sourcesContext } from './helpers/sources';
import { FacebookGraphServer } from './servers/facebook-graph-server';

const TOKEN = 'EAAG-page-token-9b1e44c07f3a2d68';
const PAGE = '104857600123';
const COMMENTERS = [
  { id: '10158123456789012', name: 'Amina Warsame' },
  { id: '10158123456789013', name: 'Hassan Abdi' },
  { id: '10158123456789014', name: 'Fadumo Ali' },
];

describe('fetch-sources: Facebook', () => {
  let server: FacebookGraphServer;
  let work: string;
  let tokenUrl: string;
  const logs: string[] = [];
  const results: string[] = [];
  const heartbeats: string[] = [];

  before(async () => {
    work = await temporaryFolder('sources-fb');
    server = new FacebookGraphServer({ token: TOKEN, pageId: PAGE });
    await server.start();
    server.addPost({ id: `${PAGE}_111`, message: 'Episode 1: what should be done? #csap01', createdTime: new Date('2026-10-05T09:00:00Z'), comments: 120, repliesEach: 1, commenters: COMMENTERS });
    server.addPost({ id: `${PAGE}_222`, message: 'Unrelated announcement', createdTime: new Date('2026-10-06T09:00:00Z'), comments: 5, commenters: COMMENTERS });
    server.addPost({ id: `${PAGE}_333`, message: 'Repeat of #csap01', createdTime: new Date('2026-10-20T09:00:00Z'), comments: 3, commenters: COMMENTERS });
    await writeFile(join(work, 'fb-token.txt'), TOKEN);
    tokenUrl = pathToFileURL(join(work, 'fb-token.txt')).href;
  });

  after(async () => {
    await server.stop();
  });

  function config(datasets: unknown[], source: Record<string, unknown> = {}) {
    return {
      sources: [{ kind: 'facebook', name: 'facebook', pageId: PAGE, tokenFileUrl: tokenUrl, graphApiBaseUrl: server.baseUrl, graphApiVersion: 'v21.0', datasets, ...source }],
      uuidTable: { backend: 'local', table: 'facebook', uuidPrefix: 'avf-facebook-uuid-' },
      sourceKeyRemappings: [{ sourceKey: 'facebook_e01 (Text)', pipelineKey: 'rqa_e01_raw', isActivationMessage: true }],
      projectStartDate: '2026-10-01T00:00:00Z',
      projectEndDate: '2026-12-01T00:00:00Z',
    };
  }

  const byPosts = { name: 'facebook_unrelated', postIds: [`${PAGE}_222`] };
  const bySearch = { name: 'facebook_e01', search: { match: '#csap01', startDate: '2026-10-01T00:00:00Z', endDate: '2026-10-15T00:00:00Z' } };

  it('fetches comments and replies of posts by id and of posts matching a search window', async () => {
    const dataRoot = join(work, 'ok');
    const harness = sourcesContext({ dataRoot, runId: 'r1', config: config([byPosts, bySearch]), table: new RecordingUuidTable('avf-facebook-uuid-'), now: new Date(), bucketsRoot: work, logs });
    const outputs = await fetchSourcesWork.run(harness.context);
    results.push(JSON.stringify(outputs));
    heartbeats.push(JSON.stringify(harness.heartbeats));
    const folder = join(dataRoot, 'raw', 'facebook', 'r1');
    assert.equal((await readJsonl(join(folder, 'facebook_unrelated.jsonl'))).length, 5);
    const e01 = await readJsonl(join(folder, 'facebook_e01.jsonl'));
    assert.equal(e01.length, 240, 'post 111 only: 120 comments and 120 replies (post 333 is outside the window)');
    assert.equal(new Set(e01.map((c) => c.comment_id)).size, 240);
    assert.equal(e01.filter((c) => c.parent_id !== null).length, 120);
    assert.ok(e01.every((c) => /^avf-facebook-uuid-/.test(String(c.participant_uuid)) && c.post_id === `${PAGE}_111` && !('from' in c)));
    assert.equal(new Set(e01.map((c) => c.participant_uuid)).size, 3);
    // Pages followed through paging.next: 3 pages of comments for post 111.
    assert.equal(server.requests.filter((r) => r.path.endsWith(`${PAGE}_111/comments`)).length, 3);
    assert.ok(server.requests.every((r) => r.query.filter === undefined || r.query.filter === 'stream'));
    assert.equal((outputs['remapped/messages.jsonl'] as { records?: number }).records, 240);
  });

  it('waits out rate limits (codes 4, 17, 32, 613) and gives up to a later retry when they persist', async () => {
    for (const code of [4, 17, 32, 613]) server.injectFault({ edge: 'comments', code, times: 1 });
    const harness = sourcesContext({ dataRoot: join(work, 'limits'), runId: 'r1', config: config([byPosts]), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs });
    await fetchSources(harness.context);
    assert.deepEqual(harness.sleeps, [10, 20, 40, 80]);

    server.injectFault({ edge: 'comments', code: 613, times: 50 });
    const persisting = sourcesContext({ dataRoot: join(work, 'limits2'), runId: 'r1', config: config([byPosts]), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs });
    await assert.rejects(fetchSources(persisting.context), (err) => err instanceof SourceUnavailableError);
  });

  it('fails for good on an invalid token (190) and a bad parameter (100)', async () => {
    server.clearFaults(); // what the previous test left
    await writeFile(join(work, 'expired.txt'), 'EAAG-expired');
    const expired = sourcesContext({ dataRoot: join(work, 'e190'), runId: 'r1', config: config([byPosts], { tokenFileUrl: pathToFileURL(join(work, 'expired.txt')).href }), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs });
    await assert.rejects(fetchSources(expired.context), (err) => err instanceof BadInputError && /facebook: the page token was refused .*190/.test(err.message));

    const missing = sourcesContext({ dataRoot: join(work, 'e100'), runId: 'r1', config: config([{ name: 'gone', postIds: [`${PAGE}_999`] }]), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs });
    await assert.rejects(fetchSources(missing.context), (err) => err instanceof BadInputError && /bad parameter .*100/.test(err.message));
  });

  it('resumes a crashed attempt from its heartbeat without requesting a comments page twice', async () => {
    server.clearFaults();
    const dataRoot = join(work, 'resume');
    const crash = new Error('worker lost');
    let last: Record<string, unknown> | undefined;
    const first = sourcesContext({
      dataRoot,
      runId: 'r1',
      config: config([bySearch]),
      table: new RecordingUuidTable('p-'),
      now: new Date(),
      bucketsRoot: work,
      logs,
      onHeartbeat: (details) => {
        last = details;
        if ((details.unit as { partial?: { records?: number } } | undefined)?.partial?.records === 200) throw crash;
      },
    });
    const mark = server.requests.length;
    await assert.rejects(fetchSources(first.context), (err) => err === crash);
    const second = sourcesContext({ dataRoot, runId: 'r1', config: config([bySearch]), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs, resumeFrom: last });
    await fetchSources(second.context);
    heartbeats.push(JSON.stringify(first.heartbeats), JSON.stringify(second.heartbeats));
    const asked = server.requests.slice(mark).map((r) => `${r.path}?${JSON.stringify(r.query)}`);
    assert.equal(new Set(asked).size, asked.length, asked.join('\n'));
    const comments = await readJsonl(join(dataRoot, 'raw', 'facebook', 'r1', 'facebook_e01.jsonl'));
    assert.equal(comments.length, 240);
    assert.equal(new Set(comments.map((c) => c.comment_id)).size, 240);
  });

  it('lets no token, commenter id or name reach raw/, logs, heartbeats or the stage result', async () => {
    const texts = [
      { where: 'logs', text: logs.join('') },
      { where: 'results', text: results.join('') },
      { where: 'heartbeats', text: heartbeats.join('') },
    ];
    for (const path of await allFiles(work)) if (!path.endsWith('.txt')) texts.push({ where: path, text: await readFile(path, 'utf8') });
    assert.deepEqual(leaks(texts, [TOKEN, ...COMMENTERS.flatMap((c) => [c.id, c.name])]), []);
  });
});
