/**
 * Recurring runs as Temporal Schedules. A schedule carries the validated run config; each run it starts
 * derives its run id and its period from its scheduled time (see `scheduledIdentity` in the workflow), so
 * every run has its own manifest, backup and logs, and a weekly schedule extends a series by one period.
 */
import {
  type Client,
  ScheduleAlreadyRunning,
  type ScheduleDescription,
  ScheduleNotFoundError,
  type ScheduleOptions,
  ScheduleOverlapPolicy,
  type ScheduleSummary,
} from '@temporalio/client';

import { BadInputError } from '../activities/errors';
import { SEARCH_ATTRIBUTES } from '../config/constants';
import type { PipelineConfig } from '../config/pipeline-config';
import { pipelineRun, type PipelineRunInput, type ScheduleContext } from '../workflows';

export const OVERLAP_POLICIES = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
} as const;
export type OverlapName = keyof typeof OVERLAP_POLICIES;
export type PeriodUnit = ScheduleContext['period']['unit'];

export interface ScheduleRequest {
  scheduleId: string;
  config: PipelineConfig;
  taskQueue: string;
  cron?: string;
  every?: string;
  timezone?: string;
  overlap?: OverlapName;
  catchupWindow?: string;
  jitter?: string;
  /** Start of period 1 (ISO); defaults to the start of the current period (UTC midnight; Monday for weeks; the 1st for months). */
  firstPeriod?: string;
  periodUnit?: PeriodUnit;
  note?: string;
  paused?: boolean;
}

const SCHEDULE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** The start of the period `time` falls in: UTC midnight, the Monday of its week, or the 1st of its month. */
export function periodStart(time: Date, unit: PeriodUnit): Date {
  const day = new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), time.getUTCDate()));
  if (unit === 'day') return day;
  if (unit === 'month') return new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), 1));
  const sinceMonday = (day.getUTCDay() + 6) % 7;
  return new Date(day.getTime() - sinceMonday * 86_400_000);
}

function checkRequest(request: ScheduleRequest): void {
  const problems: string[] = [];
  if (!SCHEDULE_ID.test(request.scheduleId)) problems.push(`schedule id: letters, digits, ".", "_" and "-" (at most 100), got ${JSON.stringify(request.scheduleId)}`);
  if (!request.cron === !request.every) problems.push('give exactly one of --cron and --every');
  if (request.firstPeriod !== undefined && Number.isNaN(Date.parse(request.firstPeriod))) problems.push(`--first-period: not an ISO date: ${request.firstPeriod}`);
  if (problems.length > 0) throw new BadInputError(problems.join('; '));
}

function scheduleOptions(request: ScheduleRequest, now: Date): ScheduleOptions {
  const unit = request.periodUnit ?? 'week';
  const input: PipelineRunInput = {
    config: request.config,
    schedule: { scheduleId: request.scheduleId, period: { unit, origin: (request.firstPeriod ? new Date(request.firstPeriod) : periodStart(now, unit)).toISOString() } },
  };
  return {
    scheduleId: request.scheduleId,
    spec: {
      ...(request.cron ? { cronExpressions: [request.cron] } : { intervals: [{ every: request.every! as `${number}${string}` }] }),
      ...(request.timezone ? { timezone: request.timezone } : {}),
      ...(request.jitter ? { jitter: request.jitter as `${number}${string}` } : {}),
    },
    action: {
      type: 'startWorkflow',
      workflowType: pipelineRun,
      // Temporal appends the scheduled time, so every run has its own workflow id.
      workflowId: `pipeline-${request.config.pipelineName}-scheduled`,
      taskQueue: request.taskQueue,
      args: [input],
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.pipelineName, value: request.config.pipelineName },
        { key: SEARCH_ATTRIBUTES.pipelineStatus, value: 'running' },
      ],
      staticSummary: `Pipeline ${request.config.pipelineName}, scheduled by ${request.scheduleId}: ${request.config.stages.map((stage) => stage.stage).join(' → ')}`,
    },
    policies: {
      overlap: OVERLAP_POLICIES[request.overlap ?? 'skip'],
      ...(request.catchupWindow ? { catchupWindow: request.catchupWindow as `${number}${string}` } : {}),
    },
    state: { paused: request.paused ?? false, ...(request.note ? { note: request.note } : {}) },
  };
}

/** Creates the schedule, or updates it when one with that id exists: running `create` twice is harmless. */
export async function createOrUpdateSchedule(client: Client, request: ScheduleRequest, now = new Date()): Promise<'created' | 'updated'> {
  checkRequest(request);
  const options = scheduleOptions(request, now);
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(request.scheduleId);
  await handle.update((previous) => ({
    ...previous,
    spec: options.spec,
    action: options.action,
    policies: { ...previous.policies, ...options.policies },
    state: { ...previous.state, ...(request.note ? { note: request.note } : {}), ...(request.paused !== undefined ? { paused: request.paused } : {}) },
  }));
  return 'updated';
}

/** Runs of the schedule the server should start now (as if scheduled), under its overlap policy. */
export async function triggerSchedule(client: Client, scheduleId: string, overlap?: OverlapName): Promise<void> {
  await client.schedule.getHandle(scheduleId).trigger(overlap ? OVERLAP_POLICIES[overlap] : undefined);
}

/** Starts the runs the schedule would have started in [from, to), in order, one after another. */
export async function backfillSchedule(client: Client, scheduleId: string, from: Date, to: Date): Promise<void> {
  if (!(from < to)) throw new BadInputError('--from must be before --to');
  await client.schedule.getHandle(scheduleId).backfill({ start: from, end: to, overlap: ScheduleOverlapPolicy.BUFFER_ALL });
}

export async function pauseSchedule(client: Client, scheduleId: string, note?: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).pause(note);
}

export async function unpauseSchedule(client: Client, scheduleId: string, note?: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).unpause(note);
}

export async function deleteSchedule(client: Client, scheduleId: string): Promise<void> {
  await client.schedule.getHandle(scheduleId).delete();
}

export async function describeSchedule(client: Client, scheduleId: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(scheduleId).describe();
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  }
}

export async function listSchedules(client: Client): Promise<ScheduleSummary[]> {
  const schedules: ScheduleSummary[] = [];
  for await (const schedule of client.schedule.list()) schedules.push(schedule);
  return schedules;
}
