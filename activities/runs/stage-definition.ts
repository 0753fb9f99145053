/**
 * What a stage is, as far as the workflow and the config are concerned: its name, the zod schema of its
 * options, its default timeouts and retry policy (with why), and whether it runs as one activity or as a
 * child workflow. Workflow-safe (zod and types only): a stage's `*.stage.ts` file holds this part, its
 * implementation sits beside it, and activities/registry.ts pairs them.
 */
import { z } from 'zod';

import { stagePolicyOverrides } from '../../config/schema-parts';
import type { StageActivityOptions } from './types';

export type Duration = `${number}${'ms' | 's' | 'm' | 'h' | 'd'}` | `${number} ${'second' | 'seconds' | 'minute' | 'minutes' | 'hour' | 'hours' | 'day' | 'days'}`;

export interface RetryDefaults {
  maximumAttempts: number;
  initialInterval: Duration;
  backoffCoefficient: number;
  maximumInterval: Duration;
}

export interface StagePolicy {
  /** Longest one attempt may run. */
  startToCloseTimeout: Duration;
  /** A worker that reports nothing for this long is taken for dead and the attempt retried. */
  heartbeatTimeout: Duration;
  retry: RetryDefaults;
  /** One line: why these numbers. */
  why: string;
}

/** Exponential backoff from 2 s, doubling, capped: the shape every stage's policy shares. */
export function retryUpTo(maximumAttempts: number, maximumInterval: Duration = '30s'): RetryDefaults {
  return { maximumAttempts, initialInterval: '2s', backoffCoefficient: 2, maximumInterval };
}

/** One activity per attempt, or a child workflow (registered under `workflowType`) with activities of its own. */
export type StageRunsAs = { kind: 'activity' } | { kind: 'child-workflow'; workflowType: string };

export interface StageDefinition<Name extends string = string, Options extends z.ZodRawShape = z.ZodRawShape, RunsAs extends StageRunsAs = StageRunsAs> {
  name: Name;
  /** One line for the JSON Schema and the README. */
  description: string;
  /** The stage's own options (the registry adds `stage` and the policy overrides). */
  options: Options;
  policy: StagePolicy;
  runsAs: RunsAs;
  /** Checks across fields (unique names, ordered dates), run even when single fields have problems, so one pass names them all. */
  check?: (config: unknown, ctx: z.RefinementCtx) => void;
  /** Stages whose outputs this one reads when they ran before it: skipping one of those in place needs `force`. */
  reads?: readonly string[];
  /** The stage reads the run config's `coding` section (which it then requires); its request carries it. */
  usesCodingPlan?: boolean;
}

export function defineStage<const Name extends string, Options extends z.ZodRawShape, const RunsAs extends StageRunsAs>(
  definition: StageDefinition<Name, Options, RunsAs>,
): StageDefinition<Name, Options, RunsAs> {
  return definition;
}

/** The stage's config as a run config writes it: `stage`, its own options, and the policy overrides. */
export function stageConfigSchema<const Name extends string, Options extends z.ZodRawShape>(definition: StageDefinition<Name, Options>) {
  const schema = z.strictObject({ stage: z.literal(definition.name), ...definition.options, ...stagePolicyOverrides });
  return (definition.check ? schema.superRefine(definition.check, { when: () => true }) : schema).describe(definition.description);
}

/** The validated config of one stage (defaults applied). */
export type StageConfigFor<D extends StageDefinition> = z.output<ReturnType<typeof stageConfigSchema<D['name'], D['options']>>>;

/** The activity options of one stage: its policy with the config's overrides on top. Plain data. */
export function stageActivityOptions(
  policy: StagePolicy,
  overrides: {
    retry?: { maximumAttempts?: number; initialInterval?: string; backoffCoefficient?: number; maximumInterval?: string } | undefined;
    startToCloseTimeout?: string | undefined;
    heartbeatTimeout?: string | undefined;
  },
): StageActivityOptions {
  return {
    startToCloseTimeout: overrides.startToCloseTimeout ?? policy.startToCloseTimeout,
    heartbeatTimeout: overrides.heartbeatTimeout ?? policy.heartbeatTimeout,
    retry: { ...policy.retry, ...overrides.retry },
  };
}
