import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import { parse } from 'csv-parse/sync';

import { findTool, TOOLS } from '../scripts/lib/tools';
import { temporaryFolder, testServers } from './helpers/environment';

const run = promisify(execFile);

describe('npm run demo', () => {
  it('runs the weekly pipeline twice around a coder: coded data comes back into outputs, graphs and Drive; the run is visible with the temporal CLI', async () => {
    const dataHome = await temporaryFolder('demo-home');
    const port = testServers.temporalAddress.split(':')[1]!;
    const { stdout } = await run(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'scripts', 'demo.ts')], {
      // The demo reuses a dev server that already answers on its port: here, the test run's.
      env: { ...process.env, CI: 'true', PIPELINE_DATA_HOME: dataHome, EMBEDDED_TEMPORAL_PORT: port, PIPELINE_TASK_QUEUE: `demo-${Date.now()}` },
    });
    const runIds = [...stdout.matchAll(/started run (\S+)/g)].map((match) => match[1]!);
    assert.equal(runIds.length, 2, 'a first weekly run, a coder, a second weekly run');
    const [firstRun, runId] = runIds as [string, string];
    assert.equal([...stdout.matchAll(/run \S+ of demo: succeeded/g)].length, 2);
    assert.match(stdout, /Web UI: +http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/pipeline-demo-/);
    assert.match(stdout, /a coder labelled \d+ messages in Coda \(1 as STOP: consent withdrawn\)/);
    const demo = join(dataHome, 'demo');

    const remapped = (await readFile(join(demo, 'raw', 'remapped', firstRun, 'messages.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(remapped.length, 380, 'every run of both flows, de-identified and remapped');
    assert.ok(remapped.every((line) => (JSON.parse(line) as { participant_uuid: string }).participant_uuid.startsWith('avf-phone-uuid-')));

    // The first run pushed the messages to Coda; the coder labelled some; the second run pulled them back.
    assert.ok(existsSync(join(dataHome, '.coda-stores', 'demo-coda.sqlite')));
    const coded = JSON.parse(await readFile(join(demo, 'coded', runId, 's01e01.json'), 'utf8')) as Array<{ Labels: Array<{ Checked?: boolean }> }>;
    assert.ok(coded.filter((message) => message.Labels[0]?.Checked === true).length >= 10, 'coded messages came back');
    const messages = parse(await readFile(join(demo, 'outputs', runId, 'messages.csv')), { columns: true }) as Array<Record<string, string>>;
    const themes = new Set(messages.map((row) => row.rqa_s01e01));
    for (const code of ['water', 'peace', 'NR']) assert.ok(themes.has(code), `messages.csv shows ${code}: ${[...themes].join(', ')}`);
    assert.ok(messages.every((row) => row.text !== 'Stop sending me these messages'), 'consent withdrawn: the STOP senders are gone');
    const summary = JSON.parse(await readFile(join(demo, 'outputs', runId, 'summary.json'), 'utf8')) as { consentWithdrawn: { participants: number } };
    assert.ok(summary.consentWithdrawn.participants > 0);
    for (const file of ['individuals.csv', 'provenance.jsonl', 'icr/s01e01.csv', 'coda/s01e01.json']) assert.ok(existsSync(join(demo, 'outputs', runId, file)), file);
    for (const format of ['csv', 'svg', 'png', 'pdf']) assert.ok(existsSync(join(demo, 'graphs', runId, `codes_rqa_s01e01.${format}`)));
    assert.ok(existsSync(join(dataHome, '.drive', 'demo', 'Demo Project', 'Outputs', 'messages.csv')), 'uploaded to the local Drive');
    assert.equal(await readFile(join(dataHome, '.drive', 'demo', 'Demo Project', 'Outputs', 'messages.csv'), 'utf8'), await readFile(join(demo, 'outputs', runId, 'messages.csv'), 'utf8'), 'the second run replaced it');
    assert.ok(existsSync(join(demo, 'backups', `data-${runId}.tar.gz`)));
    assert.ok(existsSync(join(dataHome, '.buckets', 'demo-pipeline-logs', 'runs', `${runId}.log`)));

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
    assert.equal(description.executionConfig.userMetadata.summary, `Pipeline demo, run ${runId}: fetch-sources → coda-get → generate-outputs → coda-add → analysis-graphs → drive-upload → backup-data-root → upload-logs`);
    assert.match(description.executionConfig.userMetadata.details, /\*\*Data root:\*\* demo/);
  });
});
