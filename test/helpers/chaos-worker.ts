/**
 * The chaos test's worker process: the real worker (worker/run-worker.ts) with a pinned clock
 * (CHAOS_CLOCK, so two runs can be compared byte for byte), the test's pre-built workflow bundle
 * (CHAOS_WORKFLOW_BUNDLE, so a replacement worker starts in seconds) and every activity announcing its
 * start and end on stdout as one JSON line, so the test can kill the worker at a chosen point inside it.
 */
import { readFileSync } from 'node:fs';

import { Context } from '@temporalio/activity';

import { createActivities } from '../../activities';
import { runWorkerProcess } from '../../worker/run-worker';

/** A line the chaos test reads from a worker's stdout. */
export interface ActivityAnnouncement {
  chaos: 'started' | 'finished';
  pid: number;
  workflowId: string;
  activityId: string;
  activityType: string;
  attempt: number;
  /** The stage the activity works for (undefined for bookkeeping). */
  stage?: string;
  /** generate-series: the period. */
  period?: number;
}

function stageOf(input: unknown): { stage?: string; period?: number } {
  const value = input as { stage?: { stage?: unknown }; request?: { stage?: { stage?: unknown } }; period?: unknown } | undefined;
  const stage = value?.stage?.stage ?? value?.request?.stage?.stage;
  return { ...(typeof stage === 'string' ? { stage } : {}), ...(typeof value?.period === 'number' ? { period: value.period } : {}) };
}

const clock = process.env.CHAOS_CLOCK;
const bundle = process.env.CHAOS_WORKFLOW_BUNDLE;

runWorkerProcess({
  ...(clock ? { now: () => new Date(clock) } : {}),
  ...(bundle ? { workflowBundle: { code: readFileSync(bundle, 'utf8') } } : {}),
  // A killed worker's workflow tasks go to the others after 1 s, not the SDK's 10.
  stickyQueueScheduleToStartTimeout: '1s',
  activityOverrides: (deps) =>
    Object.fromEntries(
      Object.entries(createActivities(deps) as Record<string, (input: unknown) => Promise<unknown>>).map(([name, activity]) => [
        name,
        async (input: unknown) => {
          const { info } = Context.current();
          const announce = (chaos: ActivityAnnouncement['chaos']) => {
            const line: ActivityAnnouncement = { chaos, pid: process.pid, workflowId: info.workflowExecution?.workflowId ?? '', activityId: info.activityId, activityType: info.activityType, attempt: info.attempt, ...stageOf(input) };
            // A pipe to the parent: written synchronously, so the test sees it before the work goes on.
            process.stdout.write(`${JSON.stringify(line)}\n`);
          };
          announce('started');
          const result = await activity(input);
          announce('finished');
          return result;
        },
      ]),
    ),
}).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
