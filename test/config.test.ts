import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { BadInputError } from '../activities/errors';
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
    const problems = problemsOf({ ...valid, stages: [{ stage: 'backup-data-root' }, { stage: 'publish' }] });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^stages\[1\]\.stage: unknown stage "publish"; expected one of fetch-sources, coda-get, generate-synthetic, generate-series, qa, analysis-graphs, coda-add, backup-data-root, upload-logs$/);
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
  });

  it('keeps the committed JSON Schemas in step with the zod schemas', async () => {
    for (const file of Object.keys(JSON_SCHEMAS) as Array<keyof typeof JSON_SCHEMAS>) {
      const committed = await readFile(join(__dirname, '..', file), 'utf8');
      assert.equal(committed, jsonSchemaText(file), `${file}: run \`npm run schema\` to regenerate it`);
    }
  });

  it('resolves data roots inside the data home and refuses escapes', () => {
    assert.equal(resolveDataRoot('/srv/data', 'weekly'), '/srv/data/weekly');
    assert.equal(resolveDataRoot('/srv/data', '/mnt/other'), '/mnt/other');
    assert.throws(() => resolveDataRoot('/srv/data', '../x'), BadInputError);
    // Its backup would hold the data home: the local UUID tables' raw phone numbers among them.
    assert.throws(() => resolveDataRoot('/srv/data', '.'), /is the data home or contains it/);
    assert.throws(() => resolveDataRoot('/srv/data', '/srv'), /is the data home or contains it/);
  });

  it('reads worker settings from the environment and names the variable of a bad value', () => {
    const settings = readSettings({ PIPELINE_DATA_HOME: '/srv/data', PIPELINE_BLOB_STORE: 'gcs' });
    assert.equal(settings.dataHome, '/srv/data');
    assert.equal(settings.localBucketsRoot, '/srv/data/.buckets');
    assert.throws(() => readSettings({ PIPELINE_BLOB_STORE: 's3' }), /PIPELINE_BLOB_STORE/);
  });
});
