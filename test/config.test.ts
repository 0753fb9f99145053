import assert from 'node:assert/strict';
import { mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { BadInputError } from '../activities/errors';
import { STAGE_NAMES } from '../activities/registry';
import { planStages } from '../activities/registry';
import { resolveDataRoot } from '../activities/runs/data-root';
import { loadPipelineConfig } from '../config/load-config';
import { ConfigError, parsePipelineConfig } from '../config/pipeline-config';
import { readSettings } from '../config/settings';
import { JSON_SCHEMAS, jsonSchemaText } from '../scripts/lib/json-schemas';
import { temporaryFolder } from './helpers/environment';

const valid = {
  pipelineName: 'weekly-survey',
  dataRoot: 'weekly-survey',
  stages: [{ stage: 'backup-data-root' }, { stage: 'upload-logs', destination: 'gs://avf-logs/weekly' }],
};

function problemsOf(input: unknown): string[] {
  try {
    parsePipelineConfig(input);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('config was accepted');
}

describe('run config', () => {
  it('accepts a valid config and normalises bucket prefixes to end with /', () => {
    const config = parsePipelineConfig(valid);
    assert.equal(config.stages[1]?.stage, 'upload-logs');
    assert.equal(config.stages[1]?.stage === 'upload-logs' && config.stages[1].destination, 'gs://avf-logs/weekly/');
  });

  it('names the field path of an unknown stage', () => {
    const problems = problemsOf({ ...valid, stages: [{ stage: 'backup-data-root' }, { stage: 'coda-upload' }] });
    assert.equal(problems.length, 1);
    assert.equal(problems[0], `stages[1].stage: unknown stage "coda-upload"; expected one of ${STAGE_NAMES.join(', ')}`);
  });

  it('rejects a data root that escapes through ..', () => {
    for (const dataRoot of ['../elsewhere', 'a/../../b', '/srv/data/../../etc', 'a\\..\\b']) {
      assert.deepEqual(problemsOf({ ...valid, dataRoot }).map((p) => p.split(':')[0]), ['dataRoot'], dataRoot);
    }
  });

  it('rejects bucket URIs of the wrong form, naming the field', () => {
    for (const destination of ['s3://bucket/x/', 'gs:/bucket/x', 'gs://Upper_Case/x', 'gs://b/x/', 'gs://bucket//x', 'gs://bucket/../x', 'file://relative/x', '/abs/path']) {
      const problems = problemsOf({ ...valid, stages: [{ stage: 'upload-logs', destination }] });
      assert.equal(problems.length, 1, destination);
      assert.match(problems[0]!, /^stages\[0\]\.destination: /, destination);
    }
  });

  it('rejects unknown keys, duplicate stages, bad retry options and bad durations', () => {
    const problems = problemsOf({
      ...valid,
      extra: true,
      stages: [
        { stage: 'backup-data-root', retry: { maximumAttempts: 0 }, startToCloseTimeout: 'soon' },
        { stage: 'backup-data-root' },
      ],
    });
    assert.deepEqual(problems.map((p) => p.split(':')[0]).sort(), [
      '(root)',
      'stages[0].retry.maximumAttempts',
      'stages[0].startToCloseTimeout',
      'stages[1].stage',
    ]);
  });

  it('merges per-stage overrides over the stage defaults', () => {
    const config = parsePipelineConfig({
      ...valid,
      stages: [{ stage: 'backup-data-root', retry: { maximumAttempts: 2, initialInterval: '100ms' }, startToCloseTimeout: '5 minutes' }],
    });
    const { options } = planStages(config.pipelineName, config.stages)[0]!;
    assert.equal(options.startToCloseTimeout, '5 minutes');
    assert.equal(options.heartbeatTimeout, '1 minute');
    assert.deepEqual(options.retry, { maximumAttempts: 2, initialInterval: '100ms', backoffCoefficient: 2, maximumInterval: '30s' });
  });

  it('loads YAML and JSON files, and reports unparseable ones', async () => {
    const folder = await temporaryFolder('config');
    await writeFile(join(folder, 'a.yaml'), 'pipelineName: p\ndataRoot: p\nstages:\n  - stage: backup-data-root\n');
    await writeFile(join(folder, 'b.json'), JSON.stringify(valid));
    await writeFile(join(folder, 'c.yaml'), 'pipelineName: [unclosed\n');
    assert.equal((await loadPipelineConfig(join(folder, 'a.yaml'))).pipelineName, 'p');
    assert.equal((await loadPipelineConfig(join(folder, 'b.json'))).pipelineName, 'weekly-survey');
    await assert.rejects(loadPipelineConfig(join(folder, 'c.yaml')), /is not valid YAML/);
    await assert.rejects(loadPipelineConfig(join(folder, 'missing.yaml')), /cannot read/);
    await writeFile(join(folder, 'latin1.yaml'), Buffer.concat([Buffer.from('pipelineName: p\ndescription: caf'), Buffer.from([0xe9]), Buffer.from('\ndataRoot: p\n')]));
    await assert.rejects(loadPipelineConfig(join(folder, 'latin1.yaml')), /latin1\.yaml is not valid UTF-8/);
    await writeFile(join(folder, 'huge.yaml'), `pipelineName: p\ndescription: "${'x'.repeat(1024 * 1024)}"\n`);
    await assert.rejects(loadPipelineConfig(join(folder, 'huge.yaml')), (err: Error) => /huge\.yaml is 1048\d+ bytes; at most 1048576 are read/.test(err.message) && err.message.split('\n').length === 2);
  });

  it('keeps the committed JSON Schemas in step with the zod schemas', async () => {
    for (const file of Object.keys(JSON_SCHEMAS) as Array<keyof typeof JSON_SCHEMAS>) {
      const committed = await readFile(join(__dirname, '..', file), 'utf8');
      assert.equal(committed, jsonSchemaText(file), `${file}: run \`npm run schema\` to regenerate it`);
    }
  });

  it('resolves data roots inside the data home and refuses escapes', () => {
    assert.equal(resolveDataRoot('/srv/data', 'weekly'), '/srv/data/weekly');
    assert.throws(() => resolveDataRoot('/srv/data', '/mnt/other'), /outside the worker's data home; set PIPELINE_ALLOWED_DATA_ROOTS/);
    assert.equal(resolveDataRoot('/srv/data', '/mnt/other/weekly', ['/mnt/other']), '/mnt/other/weekly');
    assert.equal(resolveDataRoot('/srv/data', '/srv/data/weekly'), '/srv/data/weekly');
    assert.throws(() => resolveDataRoot('/srv/data', '../x'), BadInputError);
    // Its backup would hold the data home: the local UUID tables' raw phone numbers among them.
    assert.throws(() => resolveDataRoot('/srv/data', '.'), /is the data home or contains it/);
    assert.throws(() => resolveDataRoot('/srv/data', '/srv'), /is the data home or contains it/);
  });

  it('follows symlinks: a data root linked out of the data home is refused', async () => {
    const home = await temporaryFolder('confined-home');
    const outside = await temporaryFolder('confined-outside');
    await symlink(outside, join(home, 'escape'));
    assert.throws(() => resolveDataRoot(home, 'escape'), /outside the worker's data home/);
    assert.throws(() => resolveDataRoot(home, 'escape/deeper/still'), /outside the worker's data home/);
    assert.equal(resolveDataRoot(home, 'escape', [outside]), join(home, 'escape'), 'unless its target is an allowed root');
    assert.deepEqual(readSettings({ PIPELINE_ALLOWED_DATA_ROOTS: `${outside}:/srv/other` }).allowedDataRoots, [outside, '/srv/other']);
    assert.throws(() => readSettings({ PIPELINE_ALLOWED_DATA_ROOTS: 'relative/path' }), /PIPELINE_ALLOWED_DATA_ROOTS/);
  });

  it('reads worker settings from the environment and names the variable of a bad value', () => {
    const settings = readSettings({ PIPELINE_DATA_HOME: '/srv/data', PIPELINE_BLOB_STORE: 'gcs' });
    assert.equal(settings.dataHome, '/srv/data');
    assert.equal(settings.localBucketsRoot, '/srv/data/.buckets');
    assert.throws(() => readSettings({ PIPELINE_BLOB_STORE: 's3' }), /PIPELINE_BLOB_STORE/);
  });

  it('reads the Temporal connection from the SDK environment configuration: a TOML profile, overridden by TEMPORAL_* variables', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'envconfig-'));
    const file = join(folder, 'temporal.toml');
    await writeFile(
      file,
      ['[profile.default]', 'address = "127.0.0.1:7233"', '', '[profile.cloud]', 'address = "pipelines.a1b2c.tmprl.cloud:7233"', 'namespace = "pipelines.a1b2c"', 'api_key = "not-a-real-key"', '[profile.cloud.tls]', ''].join('\n'),
    );
    const local = readSettings({ TEMPORAL_CONFIG_FILE: file });
    assert.equal(local.temporalAddress, '127.0.0.1:7233');
    assert.equal(local.temporalConnection.apiKey, undefined);

    const cloud = readSettings({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud' });
    assert.equal(cloud.temporalAddress, 'pipelines.a1b2c.tmprl.cloud:7233');
    assert.equal(cloud.temporalNamespace, 'pipelines.a1b2c');
    assert.equal(cloud.temporalConnection.apiKey, 'not-a-real-key');
    assert.ok(cloud.temporalConnection.tls, 'TLS is on for the cloud profile');

    const overridden = readSettings({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud', TEMPORAL_NAMESPACE: 'staging.a1b2c' });
    assert.equal(overridden.temporalNamespace, 'staging.a1b2c');
    assert.equal(readSettings({}).temporalAddress, '127.0.0.1:7233', 'nothing configured: the local dev server');
  });
});
