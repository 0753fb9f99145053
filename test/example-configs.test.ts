/**
 * The bundled example configs stay valid and runnable. The weekly pipeline is the demo's (demo.test.ts);
 * the synthetic one runs here end to end on the dev server, with the demo's raw files.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { ActivityDeps } from '../activities';
import { loadPipelineConfig } from '../config/load-config';
import { readSettings } from '../config/settings';
import { PROJECT_ROOT } from '../scripts/lib/tools';
import { createBlobStore } from '../worker/dependencies';
import { temporaryFolder } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext, testLogger } from './helpers/pipeline-worker';

const EXAMPLES = join(PROJECT_ROOT, 'config', 'examples');

describe('example configs', () => {
  let context: PipelineTestContext;
  let dataHome: string;
  let deps: ActivityDeps;

  before(async () => {
    context = await createPipelineTestContext('examples');
    dataHome = await temporaryFolder('examples-home');
    // The embedded default, as the demo runs it: gs:// objects in a local folder standing in for buckets.
    deps = { dataHome, blobStore: createBlobStore(readSettings({ PIPELINE_DATA_HOME: dataHome, PIPELINE_BLOB_STORE: 'local' })), logger: testLogger(), now: () => new Date() };
    await cp(join(EXAMPLES, 'demo-raw'), join(dataHome, 'demo', 'raw'), { recursive: true });
  });
  after(() => context.close());

  it('validates every example', async () => {
    const demo = await loadPipelineConfig(join(EXAMPLES, 'demo-pipeline.yaml'));
    assert.deepEqual(
      demo.stages.map((stage) => stage.stage),
      ['fetch-sources', 'coda-get', 'generate-outputs', 'coda-add', 'analysis-graphs', 'drive-upload', 'backup-data-root', 'upload-logs'],
    );
    assert.equal((await loadPipelineConfig(join(EXAMPLES, 'synthetic-pipeline.yaml'))).stages.length, 6);
  });

  it('runs the synthetic example: a generated dataset, its graphs, a four-week series with QA, a backup and the logs', async () => {
    // A failure fails the run at once here, rather than waiting days for an operator.
    const config = { ...(await loadPipelineConfig(join(EXAMPLES, 'synthetic-pipeline.yaml'))), operatorWaitLimit: '0s' };
    const { manifest, runId } = await context.runToEnd(deps, { config });
    assert.equal(manifest.status, 'succeeded', manifest.stages.map((stage) => `${stage.name}: ${stage.error ?? stage.status}`).join('; '));
    const demo = join(dataHome, 'demo');
    assert.ok(existsSync(join(demo, 'synth', 'radio-show', runId, 'messages.csv')));
    assert.ok(existsSync(join(demo, 'synth', 'weekly-participants', 'period-4', 'dataset_4.csv')));
    assert.ok(existsSync(join(demo, 'qa', runId, 'report.html')));
    for (const format of ['csv', 'svg', 'png', 'pdf']) assert.ok(existsSync(join(demo, 'graphs', runId, `codes_theme.${format}`)));
    assert.ok(existsSync(join(dataHome, '.buckets', 'demo-pipeline-logs', 'synthetic', `${runId}.log`)));
  });
});
