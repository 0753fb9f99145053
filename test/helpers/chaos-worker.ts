/**
 * The chaos test's worker process: the real worker (worker/run-worker.ts) with a pinned clock
 * (CHAOS_CLOCK, so two runs can be compared byte for byte), the test's pre-built workflow bundle
 * (CHAOS_WORKFLOW_BUNDLE, so a replacement worker starts in seconds) and every activity announcing its
 * start and end on stdout as one JSON line, so the test can kill the worker at a chosen point inside it.
 * After announcing its end, an activity waits for the test's go-ahead on stdin (one line naming it)
 * before it reports its result: a trial whose activity beat its kill point kills the worker there,
 * after the work and before the server hears of it, so every trial lands inside an attempt.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

import { Context } from '@temporalio/activity';

import { createActivities } from '../../activities';
import { runWorkerProcess } from '../../worker/run-worker';
import { type ActivityAnnouncement, goAheadLine } from './chaos-protocol';

function stageOf(input: unknown): { stage?: string; period?: number } {
  const value = input as { stage?: { stage?: unknown }; request?: { stage?: { stage?: unknown } }; period?: unknown } | undefined;
  const stage = value?.stage?.stage ?? value?.request?.stage?.stage;
  return { ...(typeof stage === 'string' ? { stage } : {}), ...(typeof value?.period === 'number' ? { period: value.period } : {}) };
}


const waiting = new Map<string, () => void>();
if (process.env.CHAOS_GO_AHEAD === 'stdin') {
  createInterface({ input: process.stdin }).on('line', (line) => {
    waiting.get(line)?.();
    waiting.delete(line);
  });
}
const goAhead = (line: ActivityAnnouncement) =>
  process.env.CHAOS_GO_AHEAD === 'stdin' ? new Promise<void>((resolve) => waiting.set(goAheadLine(line), resolve)) : Promise.resolve();

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
            return line;
          };
          announce('started');
          const result = await activity(input);
          await goAhead(announce('finished'));
          return result;
        },
      ]),
    ),
}).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
