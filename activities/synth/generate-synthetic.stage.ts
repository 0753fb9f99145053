/** generate-synthetic, as the workflow and the config see it. Workflow-safe. */
import { z } from 'zod';

import { blobPrefixUri, fileInDataRoot } from '../../config/schema-parts';
import { defineStage, retryUpTo } from '../runs/stage-definition';
import { SPEC_FORMATS, TABLE_FORMATS } from './synth-options';

export const specFormatOption = z.enum(SPEC_FORMATS).default('auto');

export const generateSyntheticStage = defineStage({
  name: 'generate-synthetic',
  description: 'Synthetic tables from a spec, in synth/<spec name>/<run id>/',
  options: {
    spec: fileInDataRoot.describe('Spec file (JSON or YAML), relative to the data root, e.g. raw/specs/schools.yaml'),
    specFormat: specFormatOption,
    format: z.enum(TABLE_FORMATS).default('csv'),
    seed: z.int().min(0).max(2 ** 32 - 1).optional().describe("Overrides the spec's seed"),
    datestampLine: z.boolean().default(false).describe('First line `# {"Date generated": …}` (seed 000)'),
    destination: blobPrefixUri.optional().describe('Also upload the tables and spec.json here'),
    maxRows: z.int().min(1).max(10 ** 10).default(100_000_000).describe('Refuse a spec whose tables hold more rows than this, before generating'),
    maxBytes: z.int().min(1).default(50 * 1024 ** 3).describe('Refuse a spec whose tables would take more bytes than this (estimated from a sample), before generating'),
  },
  policy: {
    startToCloseTimeout: '2 hours',
    heartbeatTimeout: '1 minute',
    retry: retryUpTo(4),
    why: 'millions of rows take minutes; generation is deterministic, so retries only help with disks and uploads',
  },
  runsAs: { kind: 'activity' },
});
