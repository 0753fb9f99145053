/**
 * What a person sees in the Temporal Web UI: a run whose stage failed and waits for an operator is found by
 * filtering on PipelineStatus, and its page shows the run's summary, its current stage and the waiting
 * state. Headless Debian Chromium driven by playwright-core; screenshots are kept in test-artifacts/.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { type Browser, chromium } from 'playwright-core';

import type { ActivityDeps } from '../activities';
import type { RunManifest } from '../activities/runs/types';
import { actOnRun, startPipelineRun } from '../client/pipeline-client';
import { parsePipelineConfig } from '../config/pipeline-config';
import { PROJECT_ROOT } from '../scripts/lib/tools';
import { statusQuery } from '../workflows';
import { temporaryFolder, testServers } from './helpers/environment';
import { createPipelineTestContext, type PipelineTestContext, testBlobStore, testLogger } from './helpers/pipeline-worker';

const ARTIFACTS = join(PROJECT_ROOT, 'test-artifacts');

describe('the Temporal Web UI shows a waiting run', () => {
  let context: PipelineTestContext;
  let browser: Browser;
  let deps: ActivityDeps;

  before(async () => {
    context = await createPipelineTestContext('web-ui');
    const dataHome = await temporaryFolder('web-ui-home');
    deps = { dataHome, blobStore: testBlobStore(join(dataHome, '.buckets')), logger: testLogger(), now: () => new Date() };
    browser = await chromium.launch({ executablePath: testServers.chromium, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    await mkdir(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await context.close();
  });

  it('lists the run under PipelineStatus = failed-waiting and shows its summary, stage and waiting state', async () => {
    await context.withWorker(deps, async () => {
      const name = `ui-${Date.now().toString(36)}`;
      const missing = `missing-${Date.now().toString(36)}`;
      const config = parsePipelineConfig({
        pipelineName: name,
        dataRoot: name,
        description: 'a run whose upload fails, for the Web UI test',
        stages: [{ stage: 'backup-data-root' }, { stage: 'upload-logs', destination: `gs://${missing}/logs/`, retry: { maximumAttempts: 1 } }],
      });
      const started = await startPipelineRun(context.client, { config, taskQueue: context.taskQueue });
      assert.equal(started.kind, 'started');
      if (started.kind !== 'started') return;
      const deadline = Date.now() + 60_000;
      let manifest: RunManifest | undefined;
      while ((manifest = await started.handle.query(statusQuery).catch(() => undefined))?.status !== 'failed-waiting') {
        if (Date.now() > deadline) throw new Error(`the run did not wait: ${manifest?.status}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }

      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      try {
        const query = encodeURIComponent(`PipelineStatus="failed-waiting" AND PipelineName="${name}"`);
        await page.goto(`${testServers.temporalUiUrl}/namespaces/default/workflows?query=${query}`);
        await page.getByText(started.workflowId).first().waitFor({ timeout: 30_000 });
        await page.screenshot({ path: join(ARTIFACTS, 'web-ui-run-list-failed-waiting.png'), fullPage: true });

        await page.goto(`${testServers.temporalUiUrl}/namespaces/default/workflows/${encodeURIComponent(started.workflowId)}`);
        await page.getByText(`Pipeline ${name}, run ${started.runId}`).first().waitFor({ timeout: 30_000 });
        // The summary, details and current details are under the run page's User Metadata tab; the UI
        // renders their Markdown in sandboxed frames, so the text is read from every frame.
        await page.getByText('User Metadata', { exact: true }).first().click();
        const textOfAllFrames = async () => (await Promise.all(page.frames().map((frame) => frame.locator('body').innerText().catch(() => '')))).join('\n');
        let text = '';
        for (const until = Date.now() + 30_000; !/waits .*for an operator/.test(text) && Date.now() < until; ) {
          await page.waitForTimeout(250); // polling the page's frames, with the deadline above
          text = await textOfAllFrames();
        }
        await page.screenshot({ path: join(ARTIFACTS, 'web-ui-waiting-run.png'), fullPage: true });
        await writeFile(join(ARTIFACTS, 'web-ui-waiting-run.txt'), text);
        assert.match(text, /upload-logs/, 'the current stage');
        assert.match(text, /waits .*for an operator/, 'the waiting state, from the current details');
        assert.match(text, new RegExp(missing), 'why the stage failed');
      } finally {
        await page.close();
        await actOnRun(context.client, started.runId, { kind: 'abort', reason: 'end of the Web UI test' });
        await started.handle.result().catch(() => undefined);
      }
    });
  });
});
