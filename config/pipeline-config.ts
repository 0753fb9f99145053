/**
 * The run config: which pipeline, which data root, which stages in which order, with per-stage options.
 * Each stage's schema comes from its definition in the stage registry (activities/registry.ts).
 */
import { z } from 'zod';

import { codingPlanSchema } from '../activities/coding/coding-plan';
import { STAGE_CONFIG_SCHEMAS, STAGE_NAMES, STAGES_USING_CODING_PLAN } from '../activities/registry';
import { ConfigError, formatZodIssues } from './problems';
import { duration, hasParentSegment } from './schema-parts';

export { ConfigError } from './problems';

export const stageConfig = z.discriminatedUnion('stage', STAGE_CONFIG_SCHEMAS, {
  error: (issue) =>
    issue.code === 'invalid_union'
      ? `unknown stage ${JSON.stringify((issue.input as { stage?: unknown } | undefined)?.stage)}; expected one of ${STAGE_NAMES.join(', ')}`
      : undefined,
});

export const pipelineConfig = z
  .strictObject({
    pipelineName: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and "-", at most 63 characters')
      .describe('Name of the pipeline, shown in the Web UI and part of every workflow id'),
    description: z.string().max(500).optional(),
    dataRoot: z
      .string()
      .min(1)
      .refine((path) => !hasParentSegment(path), 'must not contain ".." segments (it would escape the data home)')
      .refine((path) => !path.includes('\0'), 'must not contain NUL characters')
      .describe("The pipeline's data root: absolute, or relative to the worker's data home"),
    stages: z.array(stageConfig).min(1).describe('Stages in the order they run'),
    operatorWaitLimit: duration
      .default('7 days')
      .describe('When a stage exhausts its retries the run waits this long for an operator (retry-stage, skip-stage, abort), then fails; "0s" fails at once'),
    coding: codingPlanSchema.optional().describe('Datasets coded in Coda: read by coda-get, generate-outputs and coda-add'),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.stages.forEach((stage, index) => {
      if (seen.has(stage.stage)) {
        ctx.addIssue({ code: 'custom', path: ['stages', index, 'stage'], message: `stage "${stage.stage}" is listed twice` });
      }
      seen.add(stage.stage);
      if (STAGES_USING_CODING_PLAN.has(stage.stage) && !config.coding) {
        ctx.addIssue({ code: 'custom', path: ['coding'], message: `stage "${stage.stage}" needs the coding section (datasets, code schemes, store)` });
      }
    });
  });

export type PipelineConfig = z.output<typeof pipelineConfig>;
export type StageConfig = PipelineConfig['stages'][number];
export type StageConfigOf<N extends StageConfig['stage']> = Extract<StageConfig, { stage: N }>;

/** Validates an already-parsed config object; throws ConfigError naming the field paths. */
export function parsePipelineConfig(input: unknown): PipelineConfig {
  const result = pipelineConfig.safeParse(input);
  if (!result.success) throw new ConfigError(formatZodIssues(result.error));
  return result.data;
}
