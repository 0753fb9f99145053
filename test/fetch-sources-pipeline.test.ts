import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';

import type { ActivityDeps } from '../activities';
import { parsePipelineConfig } from '../config/pipeline-config';
import { decryptPayloadsIn } from './helpers/encryption';
import { temporaryFolder } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext, testBlobStore, testLogger } from './helpers/pipeline-worker';
import { type RapidProServer, startDemoRapidProServer } from './servers/rapid-pro-server';

const TOKEN = 'rp-token-0123456789abcdef';

async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

/** Every payload of a history (inputs, results, heartbeats, failures) decoded as text, for searching. */
function payloadTexts(history: unknown): string {
  const texts: string[] = [];
  const visit = (value: unknown): void => {
    if (value instanceof Uint8Array) texts.push(Buffer.from(value).toString('utf8'));
    else if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') Object.values(value).forEach(visit);
    else if (typeof value === 'string') texts.push(value);
  };
  visit(history);
  return texts.join('\n');
}

describe('fetch-sources as a registered stage on the dev server', () => {
  let context: PipelineTestContext;
  let server: RapidProServer;
  let dataHome: string;
  let deps: ActivityDeps;

  before(async () => {
    context = await createPipelineTestContext('fetch-sources');
    server = await startDemoRapidProServer({ token: TOKEN, until: new Date('2026-11-20T00:00:00Z'), activationRuns: 120, surveyRuns: 30 });
    dataHome = await temporaryFolder('fetch-home');
    deps = { dataHome, blobStore: testBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date() };
  });
  after(async () => {
    await server.stop();
    await context.close();
  });

  it('fetches both flows into raw/, de-identified through the local UUID table, then fetches only what is new', async () => {
    const tokenFile = join(dataHome, 'rapid-pro.token');
    await writeFile(tokenFile, `${TOKEN}\n`);
    const config = parsePipelineConfig({
      pipelineName: 'weekly-radio',
      dataRoot: 'weekly-radio',
      stages: [
        {
          stage: 'fetch-sources',
          sources: [{ kind: 'rapid-pro', name: 'rapid-pro', baseUrl: server.baseUrl, tokenFileUrl: pathToFileURL(tokenFile).href, activationFlowNames: ['s01e01_activation'], surveyFlowNames: ['s01_demog'] }],
          uuidTable: { backend: 'local', table: 'weekly-radio-phones', uuidPrefix: 'avf-phone-uuid-' },
          sourceKeyRemappings: [{ sourceKey: 's01e01_activation (Text) - s01e01_activation', pipelineKey: 'rqa_s01e01_raw', isActivationMessage: true }],
          projectStartDate: '2026-01-01T00:00:00Z',
          projectEndDate: '2027-01-01T00:00:00Z',
        },
        { stage: 'backup-data-root' },
      ],
    });
    const first = await context.runToEnd(deps, { config });
    assert.equal(first.manifest.status, 'succeeded', String(first.error));
    const fetch = first.manifest.stages[0]!;
    assert.equal(fetch.status, 'succeeded');
    const runFiles = Object.values(fetch.outputs).map((ref) => ref.uri).filter((uri) => uri.includes(`/raw/rapid-pro/${first.runId}/`));
    assert.ok(runFiles.length >= 2, JSON.stringify(fetch.outputs));

    // Every run fetched, each participant a uuid from the table, no phone number or token anywhere.
    const rawFiles = await filesUnder(join(dataHome, 'weekly-radio', 'raw', 'rapid-pro', first.runId));
    const runs = (await Promise.all(rawFiles.filter((file) => /runs|s01/.test(file) && file.endsWith('.jsonl')).map((file) => readFile(file, 'utf8'))))
      .join('')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { participant_uuid?: string });
    assert.ok(runs.length >= 150, `${runs.length} records`);
    // The remap step: the activation answers under their pipeline key, the survey runs (no remapping here) counted as unmapped.
    const remapped = (await readFile(join(dataHome, 'weekly-radio', 'raw', 'remapped', first.runId, 'messages.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(remapped.length, 120);
    assert.ok(remapped.every((line) => typeof (JSON.parse(line) as { rqa_s01e01_raw?: unknown }).rqa_s01e01_raw === 'string'));
    assert.ok(runs.every((run) => run.participant_uuid?.startsWith('avf-phone-uuid-')));
    // Neither the token nor any contact's number (with or without its +) in the data root or the run's history.
    const numbers = server.contacts.flatMap((contact) => contact.urns).map((urn) => urn.replace(/^tel:\+?/, ''));
    assert.ok(numbers.length >= 80);
    const secrets = [TOKEN, ...numbers];
    for (const file of await filesUnder(join(dataHome, 'weekly-radio'))) {
      if (file.endsWith('.tar.gz')) continue;
      const text = await readFile(file, 'utf8');
      assert.deepEqual(secrets.filter((secret) => text.includes(secret)), [], file);
    }
    const history = payloadTexts(decryptPayloadsIn(await context.client.workflow.getHandle(first.workflowId).fetchHistory()));
    assert.ok(history.includes('weekly-radio-phones'), 'the decoded history holds the run config');
    assert.deepEqual(secrets.filter((secret) => history.includes(secret)), []);

    // New runs arrive; the next run fetches only those.
    const flow = server.flows.find((candidate) => candidate.name === 's01e01_activation')!;
    for (let index = 0; index < 5; index++) server.addRun(flow, server.contacts[index]!, new Date());
    const requestsBefore = server.requests.length;
    const second = await context.runToEnd(deps, { config });
    assert.equal(second.manifest.status, 'succeeded', String(second.error));
    const runRequests = server.requests.slice(requestsBefore).filter((request) => request.endpoint === 'runs.json');
    assert.ok(runRequests.length > 0 && runRequests.every((request) => request.query.after !== undefined), 'the second fetch asks only for runs after the cursor');
    const secondRaw = await filesUnder(join(dataHome, 'weekly-radio', 'raw', 'rapid-pro', second.runId));
    const newRuns = (await Promise.all(secondRaw.filter((file) => /\/runs-[^/]*\.jsonl$/.test(file)).map((file) => readFile(file, 'utf8')))).join('').trim().split('\n').filter(Boolean);
    assert.equal(newRuns.length, 5);
  });
});
