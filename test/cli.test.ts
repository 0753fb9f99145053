import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { stringify as toYaml } from 'yaml';

import { LocalUuidTable, localUuidTablePath } from '../activities/deid/local-uuid-table';
import { SEARCH_ATTRIBUTES } from '../config/constants';
import { waitUntil } from '../scripts/lib/processes';
import { temporaryFolder, testServers } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext, testBlobStore, testLogger } from './helpers/pipeline-worker';

const run = promisify(execFile);
const CLI = join(__dirname, '..', 'client', 'cli.ts');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('pipeline CLI', () => {
  let context: PipelineTestContext;
  let folder: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    context = await createPipelineTestContext('cli');
    folder = await temporaryFolder('cli');
    env = { ...process.env, TEMPORAL_ADDRESS: testServers.temporalAddress, PIPELINE_TASK_QUEUE: context.taskQueue, PIPELINE_DATA_HOME: folder };
  });
  after(() => context.close());

  async function cli(...args: string[]): Promise<CliResult> {
    try {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', CLI, ...args], { env, cwd: join(__dirname, '..') });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const failed = err as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  async function writeConfig(name: string, config: unknown): Promise<string> {
    const path = join(folder, name);
    await writeFile(path, toYaml(config));
    return path;
  }

  it('rejects a bad config before anything starts, naming each field path', async () => {
    const path = await writeConfig('bad.yaml', {
      pipelineName: 'cli-bad',
      dataRoot: '../outside',
      stages: [{ stage: 'backup-data-root' }, { stage: 'upload-logs', destination: 'gs://Not A Bucket/' }, { stage: 'publish' }],
    });
    const result = await cli('run', '--config', path);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /dataRoot: must not contain "\.\." segments/);
    assert.match(result.stderr, /stages\[1\]\.destination: /);
    assert.match(result.stderr, /stages\[2\]\.stage: unknown stage "publish"/);
    assert.equal(existsSync(join(folder, '..', 'outside')), false);
    const started = context.client.workflow.list({ query: `${SEARCH_ATTRIBUTES.pipelineName.name} = "cli-bad"` });
    for await (const execution of started) assert.fail(`a workflow was started: ${execution.workflowId}`);
  });

  it('refuses a config whose spec or code scheme is bad, before starting, where it sees the data root', async () => {
    await mkdir(join(folder, 'cli-files', 'raw', 'specs'), { recursive: true });
    await writeFile(join(folder, 'cli-files', 'raw', 'specs', 'bad.yaml'), 'name: bad\ntables:\n  - name: t\n    rows: 10\n    columns:\n      - { name: n, type: numeric, distribution: uniform, min: 5, max: 1 }\n');
    const path = await writeConfig('bad-files.yaml', {
      pipelineName: 'cli-files',
      dataRoot: 'cli-files',
      stages: [{ stage: 'generate-synthetic', spec: 'raw/specs/bad.yaml' }, { stage: 'generate-outputs' }],
      coding: { store: { backend: 'local' }, datasets: [{ name: 's01', rawField: 'rqa_raw', codaDatasetId: 'S01', kind: 'activation', codeSchemes: [{ file: 'raw/missing.json', column: 'rqa' }] }] },
    });
    const result = await cli('run', '--config', path);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /stages\[0\] \(generate-synthetic\): tables\[0\]\.columns\[0\]\.min: min 5 is greater than max 1/);
    assert.match(result.stderr, /coding\.datasets\[0\]\.codeSchemes\[0\]\.file: cannot read raw\/missing\.json/);
    for await (const execution of context.client.workflow.list({ query: `${SEARCH_ATTRIBUTES.pipelineName.name} = "cli-files"` })) assert.fail(`a workflow was started: ${execution.workflowId}`);
  });

  it('runs, follows, reports status, lists and resumes a pipeline', async () => {
    const bucketFolder = await temporaryFolder('cli-bucket');
    const path = await writeConfig('good.yaml', {
      pipelineName: 'cli-good',
      dataRoot: 'cli-good',
      stages: [{ stage: 'backup-data-root' }, { stage: 'upload-logs', destination: `${pathToFileURL(bucketFolder).href}/logs/` }],
    });
    const deps = { dataHome: folder, blobStore: testBlobStore(join(folder, '.buckets')), logger: testLogger(), now: () => new Date() };
    await context.withWorker(deps, async () => {
      const started = await cli('run', '--config', path, '--follow');
      assert.equal(started.code, 0, started.stderr);
      const runId = /started run (\S+)/.exec(started.stdout)?.[1];
      assert.ok(runId, started.stdout);
      assert.match(started.stdout, /backup-data-root\s+succeeded, 1 attempt/);
      assert.match(started.stdout, /upload-logs\.log: file:\/\/.*\/logs\/.*\.log/);

      // Visibility is eventually consistent: the lookup by run id may need a moment.
      let status: CliResult = { code: -1, stdout: '', stderr: '' };
      await waitUntil(`run ${runId} visible to status`, async () => (status = await cli('status', runId, '--json')).code === 0, 15_000);
      const parsed = JSON.parse(status.stdout) as { manifest: { status: string; stages: Array<{ status: string }> } };
      assert.equal(parsed.manifest.status, 'succeeded');

      const listed = await cli('list', '--limit', '50');
      assert.equal(listed.code, 0);
      assert.match(listed.stdout, new RegExp(`cli-good\\s+${runId.replace('.', '\\.')}\\s+succeeded\\s+upload-logs`));

      const resumed = await cli('resume', runId, '--from', 'upload-logs', '--follow');
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stdout, new RegExp(`backup-data-root\\s+skipped — reused the outputs of run ${runId.replace('.', '\\.')}`));

      const unknownStage = await cli('resume', runId, '--from', 'coda-get');
      assert.equal(unknownStage.code, 2);
      assert.match(unknownStage.stderr, /its stages are backup-data-root, upload-logs/);
      assert.equal((await cli('status', '19700101T000000.000Z-0000000')).code, 3);
    });
  });
  it('looks uuids up in the local UUID table for authorised users: numbers on stdout only, unknown uuids named, exit 3', async () => {
    const table = new LocalUuidTable({ file: localUuidTablePath(folder, 'cli-phones'), uuidPrefix: 'avf-phone-uuid-' });
    const mapped = await table.dataToUuids(['+254700000001', '+254700000002']);
    table.close();
    const known = mapped.get('+254700000001')!;
    const unknown = 'avf-phone-uuid-00000000-0000-4000-8000-000000000000';
    const result = await cli('uuid-lookup', '--table', 'cli-phones', known, unknown);
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stdout, `${known}\t+254700000001\n`);
    assert.match(result.stderr, new RegExp(`not in table cli-phones: ${unknown}`));
    assert.doesNotMatch(result.stderr, /\+2547/);
    const all = await cli('uuid-lookup', '--table', 'cli-phones', known, mapped.get('+254700000002')!);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout.trim().split('\n').length, 2);
    const bad = await cli('uuid-lookup', '--table', 'no/such', known);
    assert.equal(bad.code, 2);
  });
});
