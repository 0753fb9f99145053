import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import { findTool, TOOLS } from '../scripts/lib/tools';
import { temporaryFolder, testServers } from './helpers/environment';

const run = promisify(execFile);

describe('npm run demo', () => {
  it('runs the bundled example end to end; the run is visible with the temporal CLI', async () => {
    const dataHome = await temporaryFolder('demo-home');
    const port = testServers.temporalAddress.split(':')[1]!;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'scripts', 'demo.ts')], {
      // The demo reuses a dev server that already answers on its port: here, the test run's.
      env: { ...process.env, CI: 'true', PIPELINE_DATA_HOME: dataHome, EMBEDDED_TEMPORAL_PORT: port, PIPELINE_TASK_QUEUE: `demo-${Date.now()}` },
    });
    assert.match(stdout, /run \S+ of demo: succeeded/);
    assert.match(stdout, /Web UI: +http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/pipeline-demo-/);
    const runId = /started run (\S+)/.exec(stdout)?.[1];
    assert.ok(runId);
    assert.ok(existsSync(join(dataHome, 'demo', 'backups', `data-${runId}.tar.gz`)));
    assert.ok(existsSync(join(dataHome, '.buckets', 'demo-pipeline-logs', 'runs', `${runId}.log`)));
    assert.ok(existsSync(join(dataHome, 'demo', 'synth', 'radio-show', runId, 'messages.csv')));
    const remapped = (await readFile(join(dataHome, 'demo', 'raw', 'remapped', runId, 'messages.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(remapped.length, 380, 'every run of both flows, de-identified and remapped');
    assert.ok(remapped.every((line) => (JSON.parse(line) as { participant_uuid: string }).participant_uuid.startsWith('avf-phone-uuid-')));
    assert.ok(existsSync(join(dataHome, 'demo', 'synth', 'weekly-participants', 'period-4', 'dataset_4.csv')));
    assert.ok(existsSync(join(dataHome, 'demo', 'qa', runId, 'report.html')));
    for (const format of ['csv', 'svg', 'png', 'pdf']) assert.ok(existsSync(join(dataHome, 'demo', 'graphs', runId, `codes_theme.${format}`)));

    const temporal = findTool(TOOLS.temporal);
    assert.ok(temporal);
    const described = await run(temporal, ['workflow', 'describe', '--address', testServers.temporalAddress, '-w', `pipeline-demo-${runId}`, '-o', 'json']);
    const description = JSON.parse(described.stdout) as {
      workflowExecutionInfo: { status: string; searchAttributes: { indexedFields: Record<string, { data: string }> } };
      executionConfig: { userMetadata: { summary: string; details: string } };
    };
    assert.equal(description.workflowExecutionInfo.status, 'WORKFLOW_EXECUTION_STATUS_COMPLETED');
    const attribute = (name: string): unknown => JSON.parse(Buffer.from(description.workflowExecutionInfo.searchAttributes.indexedFields[name]!.data, 'base64').toString());
    assert.equal(attribute('PipelineStatus'), 'succeeded');
    assert.equal(attribute('PipelineName'), 'demo');
    assert.equal(attribute('PipelineRunId'), runId);
    assert.equal(description.executionConfig.userMetadata.summary, `Pipeline demo, run ${runId}: fetch-sources → generate-synthetic → analysis-graphs → generate-series → qa → backup-data-root → upload-logs`);
    assert.match(description.executionConfig.userMetadata.details, /\*\*Data root:\*\* demo/);
  });
});
