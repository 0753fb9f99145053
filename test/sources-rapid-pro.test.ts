/**
 * The Rapid Pro source against a local server speaking API v2: pagination, incremental windows, rate
 * limits, server errors, refused tokens, unknown flows, test contacts, and resuming a crashed attempt
 * from its heartbeat without requesting any page twice.
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
import { RapidProServer } from './servers/rapid-pro-server';

const TOKEN = 'rp-secret-token-5f1c2a9e77d04b3c';

describe('fetch-sources: Rapid Pro', () => {
  let server: RapidProServer;
  let work: string;
  let tokenUrl: string;

  before(async () => {
    work = await temporaryFolder('sources-rp');
    server = new RapidProServer({ token: TOKEN, forbiddenTokens: ['viewer-token'], pageSize: 10, seed: 7 });
    await server.start();
    server.seed({
      flows: [
        { name: 'csap_s01e01_activation', kind: 'activation', runs: 35 },
        { name: 'csap_demog', kind: 'survey', runs: 12 },
      ],
      contacts: 15,
      start: new Date('2026-10-01T08:00:00Z'),
      stepMs: 60_000,
    });
    await writeFile(join(work, 'rp-token.txt'), `${TOKEN}\n`);
    tokenUrl = pathToFileURL(join(work, 'rp-token.txt')).href;
  });

  after(async () => {
    await server.stop();
  });

  function config(overrides: Record<string, unknown> = {}, source: Record<string, unknown> = {}) {
    return {
      sources: [
        {
          kind: 'rapid-pro',
          name: 'rapid-pro',
          baseUrl: server.baseUrl,
          tokenFileUrl: tokenUrl,
          activationFlowNames: ['csap_s01e01_activation'],
          surveyFlowNames: ['csap_demog'],
          ...source,
        },
      ],
      uuidTable: { backend: 'local', table: 'phones', uuidPrefix: 'avf-phone-uuid-' },
      sourceKeyRemappings: [
        { sourceKey: 'csap_s01e01_activation (Text) - csap_s01e01_activation', pipelineKey: 'rqa_s01e01_raw', isActivationMessage: true },
        { sourceKey: 'gender (Text) - csap_demog', pipelineKey: 'gender_raw' },
      ],
      projectStartDate: '2026-01-01T00:00:00Z',
      projectEndDate: '2027-01-01T00:00:00Z',
      ...overrides,
    };
  }

  const allLogs: string[] = [];
  const results: string[] = [];
  const heartbeatTexts: string[] = [];

  it('fetches every page of each flow and the contacts, de-identified, then only what is new', async () => {
    const dataRoot = join(work, 'incremental');
    const table = new RecordingUuidTable('avf-phone-uuid-');
    const first = sourcesContext({ dataRoot, runId: '20261101T000000.000Z-aaaaaaa', config: config(), table, now: new Date('2026-11-01T00:00:00Z'), bucketsRoot: work, logs: allLogs });
    const before = server.requests.length;
    const outputs = await fetchSourcesWork.run(first.context);
    results.push(JSON.stringify(outputs));
    heartbeatTexts.push(JSON.stringify(first.heartbeats));

    const runDir = join(dataRoot, 'raw', 'rapid-pro', '20261101T000000.000Z-aaaaaaa');
    const activation = await readJsonl(join(runDir, 'runs-csap-s01e01-activation.jsonl'));
    const survey = await readJsonl(join(runDir, 'runs-csap-demog.jsonl'));
    const contacts = await readJsonl(join(runDir, 'contacts.jsonl'));
    assert.equal(activation.length, 35);
    assert.equal(survey.length, 12);
    assert.equal(contacts.length, 15);
    assert.equal(new Set(activation.map((run) => run.run_uuid)).size, 35);
    for (const run of activation) {
      assert.match(String(run.participant_uuid), /^avf-phone-uuid-[0-9a-f-]{36}$/);
      assert.equal(run.contact, undefined);
      assert.equal(run.flow_type, 'activation');
    }
    // Every participant uuid maps back to a contact's number.
    const phones = new Set(server.contacts.map((contact) => contact.urns[0]));
    for (const [id] of table.forward) assert.ok(phones.has(id), 'only contact URNs are de-identified');

    const pages = server.requests.slice(before).filter((request) => request.endpoint === 'runs.json');
    assert.equal(pages.length, 4 + 2, '35 runs in pages of 10, and 12');
    assert.ok(pages.every((request) => request.query.before === '2026-11-01T00:00:00.000000Z' && request.query.after === undefined));
    const cursors = JSON.parse(await readFile(join(dataRoot, 'raw', 'rapid-pro', '.cursors.json'), 'utf8'));
    assert.equal(Object.values(cursors.flows as Record<string, { until: string }>)[0]!.until, '2026-11-01T00:00:00.000000Z');
    assert.equal((outputs['rapid-pro/runs-csap-s01e01-activation.jsonl'] as { records?: number }).records, 35);
    assert.equal((outputs['remapped/messages.jsonl'] as { records?: number }).records, 35 + 12);
    assert.equal((outputs['rapid-pro'] as { records?: number }).records, 35 + 12 + 15, 'per source: runs and contacts');
    assert.match(outputs['rapid-pro/runs-csap-demog.jsonl']!.uri, /^file:\/\/.*\/raw\/rapid-pro\/20261101T000000\.000Z-aaaaaaa\/runs-csap-demog\.jsonl$/);
    assert.match(String(outputs['rapid-pro/runs-csap-demog.jsonl']!.sha256), /^[0-9a-f]{64}$/);

    // New runs arrive: the next fetch asks only for the window after the cursor, and gets only them.
    const flow = server.flows.find((f) => f.name === 'csap_s01e01_activation')!;
    for (let i = 0; i < 7; i += 1) server.addRun(flow, server.contacts[i]!, new Date(`2026-11-0${2 + (i % 3)}T10:00:00Z`));
    const second = sourcesContext({ dataRoot, runId: '20261105T000000.000Z-bbbbbbb', config: config(), table, now: new Date('2026-11-05T00:00:00Z'), bucketsRoot: work, logs: allLogs });
    const mark = server.requests.length;
    const outputs2 = await fetchSourcesWork.run(second.context);
    results.push(JSON.stringify(outputs2));
    const newRuns = await readJsonl(join(dataRoot, 'raw', 'rapid-pro', '20261105T000000.000Z-bbbbbbb', 'runs-csap-s01e01-activation.jsonl'));
    assert.equal(newRuns.length, 7);
    const asked = server.requests.slice(mark).filter((request) => request.endpoint === 'runs.json');
    assert.ok(asked.every((request) => request.query.after === '2026-11-01T00:00:00.000001Z'));
    assert.equal((await readJsonl(join(dataRoot, 'raw', 'rapid-pro', '20261105T000000.000Z-bbbbbbb', 'runs-csap-demog.jsonl'))).length, 0);
    // The remap reads both fetches: all runs, each once.
    assert.equal((outputs2['remapped/messages.jsonl'] as { records?: number }).records, 35 + 7 + 12);
  });

  it('waits out a 429 for its Retry-After, and retries 5xx with backoff', async () => {
    const dataRoot = join(work, 'faults');
    server.injectFault({ endpoint: 'runs.json', status: 429, times: 1, retryAfterSeconds: 3 });
    server.injectFault({ endpoint: 'runs.json', status: 500, times: 2 });
    const harness = sourcesContext({ dataRoot, runId: 'r1', config: config(), table: new RecordingUuidTable('p-'), now: new Date('2026-11-01T00:00:00Z'), bucketsRoot: work, logs: allLogs });
    await fetchSources(harness.context);
    assert.deepEqual(harness.sleeps, [3000, 10, 20]);
    assert.equal((await readJsonl(join(dataRoot, 'raw', 'rapid-pro', 'r1', 'runs-csap-s01e01-activation.jsonl'))).length, 35);
  });

  it('gives up on a server that keeps failing with a retryable error, and on refused tokens with a non-retryable one', async () => {
    server.injectFault({ endpoint: 'runs.json', status: 503, times: 4 });
    const failing = sourcesContext({ dataRoot: join(work, 'down'), runId: 'r1', config: config(), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs: allLogs });
    await assert.rejects(fetchSources(failing.context), (err) => err instanceof SourceUnavailableError && !(err instanceof BadInputError));

    await writeFile(join(work, 'wrong.txt'), 'not-the-token');
    const wrong = sourcesContext({ dataRoot: join(work, 'wrong'), runId: 'r1', config: config({}, { tokenFileUrl: pathToFileURL(join(work, 'wrong.txt')).href }), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs: allLogs });
    await assert.rejects(fetchSources(wrong.context), (err) => err instanceof BadInputError && /rapid-pro: the API token was refused/.test(err.message));

    await writeFile(join(work, 'viewer.txt'), 'viewer-token');
    const forbidden = sourcesContext({ dataRoot: join(work, 'forbidden'), runId: 'r1', config: config({}, { tokenFileUrl: pathToFileURL(join(work, 'viewer.txt')).href }), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs: allLogs });
    await assert.rejects(fetchSources(forbidden.context), (err) => err instanceof BadInputError && /HTTP 403/.test(err.message));

    const missing = sourcesContext({ dataRoot: join(work, 'missing'), runId: 'r1', config: config({}, { tokenFileUrl: pathToFileURL(join(work, 'nope.txt')).href }), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs: allLogs });
    await assert.rejects(fetchSources(missing.context), (err) => err instanceof BadInputError && /rapid-pro: token file .*nope\.txt/.test(err.message));
  });

  it('refuses an unknown flow name, listing the flows that exist', async () => {
    const harness = sourcesContext({ dataRoot: join(work, 'unknown'), runId: 'r1', config: config({}, { activationFlowNames: ['csap_s01e02_activation'] }), table: new RecordingUuidTable('p-'), now: new Date(), bucketsRoot: work, logs: allLogs });
    await assert.rejects(fetchSources(harness.context), (err) => {
      assert.ok(err instanceof BadInputError);
      assert.match(err.message, /no flow named "csap_s01e02_activation"; the workspace has: "csap_demog", "csap_s01e01_activation"/);
      return true;
    });
  });

  it('tags runs of test contacts and drops them from the remapped messages when filterTestMessages', async () => {
    const dataRoot = join(work, 'test-contacts');
    const flow = server.flows.find((f) => f.name === 'csap_s01e01_activation')!;
    const testContact = [...server.contacts].sort((a, b) => countRunsOf(server, flow.uuid, b.uuid) - countRunsOf(server, flow.uuid, a.uuid))[0]!;
    const expected = countRunsOf(server, flow.uuid, testContact.uuid);
    assert.ok(expected > 0);
    const harness = sourcesContext({
      dataRoot,
      runId: 'r1',
      config: config({ filterTestMessages: true }, { testContactUuids: [testContact.uuid] }),
      table: new RecordingUuidTable('p-'),
      now: new Date('2026-12-01T00:00:00Z'),
      bucketsRoot: work,
      logs: allLogs,
    });
    await fetchSourcesWork.run(harness.context);
    const raw = await readJsonl(join(dataRoot, 'raw', 'rapid-pro', 'r1', 'runs-csap-s01e01-activation.jsonl'));
    assert.equal(raw.filter((run) => run.test_run === true).length, expected, 'raw keeps test runs, tagged');
    const messages = await readJsonl(join(dataRoot, 'raw', 'remapped', 'r1', 'messages.jsonl'));
    assert.equal(messages.filter((m) => m.test_run === true).length, 0);
    const summary = JSON.parse(await readFile(join(dataRoot, 'raw', 'remapped', 'r1', 'summary.json'), 'utf8'));
    assert.ok(summary.counts.testDropped >= expected);
  });

  it('resumes a crashed attempt from its last heartbeat: no page requested twice, output complete without duplicates', async () => {
    const dataRoot = join(work, 'resume');
    const runId = 'r-resume';
    const crash = new Error('worker lost');
    let last: Record<string, unknown> | undefined;
    const firstAttempt = sourcesContext({
      dataRoot,
      runId,
      config: config(),
      table: new RecordingUuidTable('p-'),
      now: new Date('2026-12-01T00:00:00Z'),
      bucketsRoot: work,
      logs: allLogs,
      onHeartbeat: (details, count) => {
        last = details;
        // The worker dies right after the third page of the first flow is safely written and reported.
        if ((details.unit as { partial?: { records?: number } } | undefined)?.partial?.records === 30) throw crash;
        void count;
      },
    });
    const mark = server.requests.length;
    await assert.rejects(fetchSources(firstAttempt.context), (err) => err === crash);
    assert.equal((last!.unit as { partial: { records: number } }).partial.records, 30);

    const secondAttempt = sourcesContext({ dataRoot, runId, config: config(), table: new RecordingUuidTable('p-'), now: new Date('2026-12-02T00:00:00Z'), bucketsRoot: work, logs: allLogs, resumeFrom: last });
    await fetchSources(secondAttempt.context);
    heartbeatTexts.push(JSON.stringify(firstAttempt.heartbeats), JSON.stringify(secondAttempt.heartbeats));

    const pages = server.requests.slice(mark).filter((request) => request.endpoint === 'runs.json').map((request) => JSON.stringify(request.query));
    assert.equal(new Set(pages).size, pages.length, `a page was requested twice: ${pages.join('\n')}`);
    const runs = await readJsonl(join(dataRoot, 'raw', 'rapid-pro', runId, 'runs-csap-s01e01-activation.jsonl'));
    const expected = countRunsOf(server, server.flows[0]!.uuid);
    assert.equal(runs.length, expected);
    assert.equal(new Set(runs.map((run) => run.run_uuid)).size, expected);
    // The resumed attempt kept the first attempt's window end, so nothing newer slipped in half-way.
    assert.ok(server.requests.slice(mark).filter((r) => r.endpoint === 'runs.json').every((r) => r.query.before === '2026-12-01T00:00:00.000000Z'));
  });

  it('starts a source over when an attempt died without usable heartbeat details, and skips a source already complete', async () => {
    const dataRoot = join(work, 'restart');
    let runsRequests = 0;
    const dying: typeof fetch = async (input, init) => {
      if (String(input).includes('runs.json') && ++runsRequests === 3) throw new Error('connection reset by peer');
      return fetch(input, init);
    };
    const first = sourcesContext({ dataRoot, runId: 'r1', config: config(), table: new RecordingUuidTable('p-'), now: new Date('2026-12-01T00:00:00Z'), bucketsRoot: work, logs: allLogs, fetch: dying });
    first.context.http = { ...first.context.http, transientAttempts: 1 };
    await assert.rejects(fetchSources(first.context), /connection reset by peer/);

    const second = sourcesContext({ dataRoot, runId: 'r1', config: config(), table: new RecordingUuidTable('p-'), now: new Date('2026-12-01T00:00:00Z'), bucketsRoot: work, logs: allLogs });
    await fetchSources(second.context);
    const runs = await readJsonl(join(dataRoot, 'raw', 'rapid-pro', 'r1', 'runs-csap-s01e01-activation.jsonl'));
    assert.equal(runs.length, countRunsOf(server, server.flows[0]!.uuid));
    assert.equal(new Set(runs.map((run) => run.run_uuid)).size, runs.length);

    const mark = server.requests.length;
    const third = sourcesContext({ dataRoot, runId: 'r1', config: config(), table: new RecordingUuidTable('p-'), now: new Date('2026-12-01T00:00:00Z'), bucketsRoot: work, logs: allLogs });
    const summaries = await fetchSources(third.context);
    assert.equal(server.requests.length, mark, 'a complete source is not fetched again');
    assert.equal(summaries[0]!.records, runs.length + countRunsOf(server, server.flows[1]!.uuid) + server.contacts.length);
  });

  it('lets no token, phone number or contact name reach raw/, logs, heartbeats or the stage result', async () => {
    const needles = [TOKEN, ...server.contacts.flatMap((contact) => [contact.urns[0]!.replace(/^tel:/, ''), contact.urns[0]!.replace(/^tel:\+/, ''), contact.name])];
    const texts = [
      { where: 'logs', text: allLogs.join('') },
      { where: 'results', text: results.join('') },
      { where: 'heartbeats', text: heartbeatTexts.join('') },
    ];
    for (const path of await allFiles(work)) {
      if (path.endsWith('.txt')) continue; // the token files themselves
      texts.push({ where: path, text: await readFile(path, 'utf8') });
    }
    assert.deepEqual(leaks(texts, needles), []);
    assert.ok(allLogs.length > 0 && results.length > 0);
  });
});

function countRunsOf(server: RapidProServer, flowUuid: string, contactUuid?: string): number {
  // Reads the server's own state through its public page API would need a token; its fields are enough.
  return (server as unknown as { runs: Array<{ flow: { uuid: string }; contact: { uuid: string } }> }).runs.filter(
    (run) => run.flow.uuid === flowUuid && (contactUuid === undefined || run.contact.uuid === contactUuid),
  ).length;
}
