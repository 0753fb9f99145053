/** generate-synthetic, as the workflow and the config see it: a child workflow of row-range shards. Workflow-safe. */
import { z } from 'zod';

import { blobPrefixUri, fileInDataRoot } from '../../config/schema-parts';
import { defineStage, retryUpTo } from '../runs/stage-definition';
import { SPEC_FORMATS, TABLE_FORMATS } from './synth-options';

export const specFormatOption = z.enum(SPEC_FORMATS).default('auto');

/** The size guards' defaults, for generate-synthetic per spec and generate-series per series. */
export const DEFAULT_MAX_ROWS = 100_000_000;
export const DEFAULT_MAX_BYTES = 50 * 1024 ** 3;

/** Rows per shard when the config does not say: a few seconds of one core's work, a few dozen MB of CSV. */
export const DEFAULT_SHARD_ROWS = 1_000_000;

/**
 * The task queue beside a worker's own on which it runs shards, two at a time by default
 * (PIPELINE_SHARD_SLOTS): a shard mostly keeps one core busy, so a worker taking every shard it could
 * (its own queue's 100 slots) would interleave them on its one thread while another worker stood idle.
 * Two, not one: one shard's writes and a second poll overlap the other's generation, and a poll for one
 * slot waits on a task queue's empty partitions (four on a server's defaults) for hundreds of ms.
 */
export const shardTaskQueue = (taskQueue: string): string => `${taskQueue}.shards`;

// How a table is split: the workflow derives the ranges itself, so no list of them travels in payloads.
/** A row range [start, end) of one table. */
export interface ShardRange {
  index: number;
  start: number;
  end: number;
}

/** Consecutive ranges of `shardRows` rows (the last one shorter); an empty table is one empty shard, which writes its header. */
export function shardRanges(rows: number, shardRows: number): ShardRange[] {
  const ranges: ShardRange[] = [];
  for (let start = 0, index = 0; start < rows || index === 0; start += shardRows, index++) ranges.push({ index, start, end: Math.min(rows, start + shardRows) });
  return ranges;
}

/** Either `spec` or `specs` names what the batch generates. */
function checkSpecs(value: unknown, ctx: z.RefinementCtx): void {
  const config = (value ?? {}) as Record<string, unknown>;
  if (config.spec === undefined && config.specs === undefined) ctx.addIssue({ code: 'custom', message: 'name a spec file, or a list of specs and glob patterns in specs', path: ['spec'] });
}

export const generateSyntheticStage = defineStage({
  name: 'generate-synthetic',
  description: 'Synthetic tables from one spec or a batch of specs, each in synth/<spec name>/<run id>/, generated in row-range shards on any worker',
  options: {
    spec: fileInDataRoot.optional().describe('Spec file (JSON or YAML), relative to the data root, e.g. raw/specs/schools.yaml'),
    specs: z
      .array(fileInDataRoot)
      .min(1)
      .optional()
      .describe('A batch: spec files and glob patterns (* ? ** [abc] {a,b}) relative to the data root, e.g. raw/specs/*.yaml; each spec is its own dataset'),
    specFormat: specFormatOption,
    format: z.enum(TABLE_FORMATS).default('csv'),
    seed: z.int().min(0).max(2 ** 32 - 1).optional().describe("Overrides every spec's seed"),
    datestampLine: z.boolean().default(false).describe('First line `# {"Date generated": …}` (seed 000)'),
    destination: blobPrefixUri.optional().describe('Also upload the tables and spec.json here'),
    maxRows: z.int().min(1).max(10 ** 10).default(DEFAULT_MAX_ROWS).describe('Refuse a spec whose tables hold more rows than this, before generating'),
    maxBytes: z.int().min(1).default(DEFAULT_MAX_BYTES).describe('Refuse a spec whose tables would take more bytes than this (estimated from a sample), before generating'),
    shardRows: z
      .int()
      .min(1000)
      .max(10 ** 9)
      .default(DEFAULT_SHARD_ROWS)
      .describe('Rows per shard: a larger table is split into row ranges generated in parallel, on any worker, and joined in order'),
  },
  check: checkSpecs,
  policy: {
    // Applies to each activity of the stage: the plan, every shard, every table's concatenation.
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '1 minute',
    retry: retryUpTo(4),
    why: 'a shard of a million rows takes seconds, a concatenation of a big table minutes; generation is deterministic, so retries only help with disks, uploads and crashed workers',
  },
  runsAs: { kind: 'child-workflow', workflowType: 'syntheticRun' },
});
