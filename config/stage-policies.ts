/**
 * Default timeouts and retry policies of each stage. A run config may override them per stage.
 * Pure data (no Node built-ins): the workflow reads it.
 */
import type { ActivityOptions } from '@temporalio/common';
import type { StageName } from './constants';
import type { StageConfig } from './pipeline-config';

export const STAGE_POLICIES: Record<StageName, ActivityOptions> = {
  'generate-synthetic': {
    // Millions of rows take minutes; progress heartbeats show a live worker.
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '1 minute',
    // Generation is deterministic, so a retry only helps with disk or upload trouble: a few tries.
    retry: { maximumAttempts: 4, initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s' },
  },
  'generate-series': {
    // Applies to each period's activity: a period of a few hundred thousand rows takes seconds to minutes.
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '1 minute',
    // Deterministic work: retries are for crashed workers and disks, so a few.
    retry: { maximumAttempts: 4, initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s' },
  },
  qa: {
    // One pass over each dataset: seconds per million rows.
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '2 minutes',
    retry: { maximumAttempts: 3, initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s' },
  },
  'analysis-graphs': {
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '2 minutes',
    retry: { maximumAttempts: 3, initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s' },
  },
  'backup-data-root': {
    // A tar of a large data root can take long; the heartbeat catches a dead worker within a minute.
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '1 minute',
    // Disk hiccups are transient; five tries over about a minute, then a person should look.
    retry: { maximumAttempts: 5, initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s' },
  },
  'upload-logs': {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '1 minute',
    // Network and bucket errors are usually transient; retry for a few minutes before giving up.
    retry: { maximumAttempts: 8, initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute' },
  },
};

/** The stage's activity options: the defaults above with the config's overrides on top. */
export function stageActivityOptions(stage: StageConfig): ActivityOptions {
  const defaults = STAGE_POLICIES[stage.stage];
  return {
    ...defaults,
    startToCloseTimeout: stage.startToCloseTimeout ?? defaults.startToCloseTimeout,
    retry: { ...defaults.retry, ...stage.retry },
  };
}
