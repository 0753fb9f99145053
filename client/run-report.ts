/** Showing a run to a person: its stages as lines, and progress while it runs. */
import type { WorkflowHandle } from '@temporalio/client';
import { Presets, SingleBar } from 'cli-progress';

import type { RunManifest } from '../activities/runs/types';
import { statusQuery } from '../workflows';

function stageLine(manifest: RunManifest): string {
  return manifest.stages
    .map((stage, index) => {
      const attempts = stage.attempts > 0 ? `, ${stage.attempts} attempt${stage.attempts === 1 ? '' : 's'}` : '';
      const extra = stage.error ? ` — ${stage.error}` : stage.note ? ` — ${stage.note}` : '';
      return `  ${index + 1}. ${stage.name.padEnd(18)} ${stage.status}${attempts}${extra}`;
    })
    .join('\n');
}

export function printManifest(manifest: RunManifest): void {
  console.log(`run ${manifest.runId} of ${manifest.pipelineName}: ${manifest.status}`);
  console.log(stageLine(manifest));
  for (const stage of manifest.stages) {
    for (const [name, ref] of Object.entries(stage.outputs)) console.log(`     ${stage.name}.${name}: ${ref.uri}`);
  }
  if (manifest.status === 'failed-waiting') {
    const failed = manifest.stages.find((stage) => stage.status === 'failed');
    console.log(`the run waits for an operator on ${failed?.name ?? 'a failed stage'} (up to ${manifest.config.operatorWaitLimit}):
  npm run pipeline -- retry-stage ${manifest.runId} [--set key=value …]   run the stage again, optionally with corrected options
  npm run pipeline -- skip-stage ${manifest.runId} --reason "…" [--force]  go on without it (recorded)
  npm run pipeline -- abort ${manifest.runId} --reason "…"                  end the run as failed`);
  }
}

/** Polls the status query until the run ends, drawing a progress bar on a terminal, lines otherwise. */
export async function followRun(handle: WorkflowHandle): Promise<RunManifest> {
  const bar = process.stdout.isTTY
    ? new SingleBar({ format: ' {bar} {value}/{total} stages | {stage} {state}', hideCursor: true }, Presets.shades_classic)
    : undefined;
  const printed = new Map<string, string>();
  for (;;) {
    const manifest = await handle.query(statusQuery).catch(() => undefined);
    if (manifest) {
      const done = manifest.stages.filter((stage) => stage.status !== 'pending' && stage.status !== 'running').length;
      const current = manifest.stages.find((stage) => stage.status === 'running') ?? manifest.stages[Math.max(done - 1, 0)];
      if (bar) {
        if (printed.size === 0) bar.start(manifest.stages.length, done, { stage: '', state: '' });
        bar.update(done, { stage: current?.name ?? '', state: current?.status ?? '' });
        printed.set('bar', 'started');
      } else {
        for (const stage of manifest.stages) {
          if (stage.status !== 'pending' && printed.get(stage.name) !== stage.status) {
            console.log(`${stage.name}: ${stage.status}`);
            printed.set(stage.name, stage.status);
          }
        }
      }
      if (manifest.status === 'failed-waiting') {
        // The run stays open, waiting for an operator: report it rather than wait days for it to close.
        bar?.stop();
        return manifest;
      }
      if (manifest.status !== 'running') {
        // The record says the run is over, but the run still saves it before it closes: wait for the close,
        // so that a caller who then stops its worker (the demo) does not leave the run open.
        const closed = (await handle.result().catch(() => manifest)) as RunManifest;
        bar?.stop();
        return closed;
      }
    } else {
      const { status } = await handle.describe();
      if (status.name !== 'RUNNING') throw new Error(`the run ended (${status.name}) before it reported any status`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
