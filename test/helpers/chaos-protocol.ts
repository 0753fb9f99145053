/** What the chaos test and its worker processes (test/helpers/chaos-worker.ts) say to each other. */

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

/** The line the test writes on stdin to let an activity that announced its end report its result. */
export const goAheadLine = (line: Pick<ActivityAnnouncement, 'workflowId' | 'activityId' | 'attempt'>) => `${line.workflowId}/${line.activityId}/${line.attempt}`;
