/**
 * The activities the worker registers: the run's bookkeeping and every stage of the registry, each
 * wrapped once (activities/runs/activity-wrapper.ts) for errors, attempts, heartbeats and run logs.
 */
import { PRE_REGISTRY_ACTIVITY_TYPES } from '../workflows/pre-registry';
import { createStageActivities } from './registry';
import type { ActivityDeps } from './runs/activity-wrapper';
import { createBookkeepingActivities } from './runs/bookkeeping';

export type { ActivityDeps, FailureDetails } from './runs/activity-wrapper';

export function createActivities(deps: ActivityDeps) {
  const stages = createStageActivities(deps);
  // Runs started before the registry may still schedule their stages under the old activity names.
  const aliases = Object.fromEntries(Object.entries(PRE_REGISTRY_ACTIVITY_TYPES).map(([stage, activityType]) => [activityType, (stages as Record<string, unknown>)[stage]]));
  return { ...aliases, ...stages, ...createBookkeepingActivities(deps) };
}

export type BookkeepingActivities = ReturnType<typeof createBookkeepingActivities>;
