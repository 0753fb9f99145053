/**
 * The run config's `coding` section: which datasets go to Coda for manual coding and come back, from which
 * raw field, with which code schemes, and where the Coda store is. The coding stages (coda-get,
 * generate-outputs, coda-add) receive it with their request. Seed 004's coding plans, as config.
 * Workflow-safe (zod only).
 */
import { z } from 'zod';

import { fileInDataRoot } from '../../config/schema-parts';

/** Firestore document ids: no `/`, and not `_<n>`-suffixed (those name a dataset's later segments). */
const codaDatasetId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'letters, digits, "_", "." and "-" (at most 128)')
  .refine((id) => !/_\d+$/.test(id), 'must not end in _<number>: Coda names a dataset\'s later segments <id>_2, <id>_3, …');

/** Becomes part of file names (coded/<run>/<name>.json, icr/<name>.csv) and CSV columns. */
const datasetName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, "_" and "-" (at most 64)');

export const codingStoreConfigSchema = z
  .strictObject({
    backend: z.enum(['local', 'firestore']).default('local').describe('local: a store under the worker\'s data home with Firestore\'s layout; firestore: Coda\'s own'),
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "_" and "-" (at most 64)').default('coda').describe('Local backend: the store\'s file name'),
    projectId: z.string().min(1).optional().describe('Firestore backend: the Coda Firebase project'),
    credentialsFileUrl: z.string().regex(/^(gs|file):\/\//, 'expected a gs:// or file:// URL').optional().describe('Firestore backend: service account JSON'),
  })
  .refine((config) => config.backend !== 'firestore' || config.projectId !== undefined, { message: 'the firestore backend needs projectId', path: ['projectId'] });

export const codingSchemeRefSchema = z.strictObject({
  file: fileInDataRoot.describe('CodaV2 code scheme JSON, in the data root'),
  column: z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'letters, digits and "_" (at most 64)').describe('Column (prefix) for this scheme in messages.csv and individuals.csv'),
});

export const codingDatasetSchema = z.strictObject({
  name: datasetName,
  rawField: z.string().min(1).describe('Pipeline key of the remapped raw messages holding the text'),
  codaDatasetId,
  kind: z.enum(['activation', 'survey']).describe('activation: radio-show answers (one row per message); survey: demographics (one answer per participant)'),
  codeSchemes: z.array(codingSchemeRefSchema).min(1),
});

export const noiseRuleSchema = z
  .strictObject({
    maxLength: z.int().min(0).max(1000).optional().describe('Texts of at most this many characters (trimmed) are noise'),
    patterns: z.array(z.string().min(1)).default([]).describe('Case-insensitive regular expressions; a text matching one is noise'),
    controlCode: z.enum(['NC', 'NOC', 'NA', 'WS', 'NS']).default('NC').describe('The control code noise is labelled with'),
  })
  .superRefine((rule, ctx) => {
    rule.patterns.forEach((pattern, index) => {
      try {
        new RegExp(pattern, 'i');
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['patterns', index], message: `not a regular expression: ${(err as Error).message}` });
      }
    });
  });

export const codingPlanSchema = z
  .strictObject({
    store: codingStoreConfigSchema,
    users: z.array(z.email()).default([]).describe('Coders: the dataset documents\' users'),
    datasets: z.array(codingDatasetSchema).min(1),
    noise: noiseRuleSchema.optional().describe('Auto-labels activation messages that are noise (not Checked); without it nothing is'),
    icr: z
      .strictObject({ sampleSize: z.int().min(1).max(100_000).default(200), seed: z.int().min(0).default(0) })
      .default({ sampleSize: 200, seed: 0 })
      .describe('Per week, a deterministic sample of messages not coded as noise'),
  })
  .superRefine((plan, ctx) => {
    for (const key of ['name', 'codaDatasetId'] as const) {
      const seen = new Map<string, number>();
      plan.datasets.forEach((dataset, index) => {
        const first = seen.get(dataset[key]);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['datasets', index, key], message: `"${dataset[key]}" repeats datasets[${first}]` });
        else seen.set(dataset[key], index);
      });
    }
    const columns = new Map<string, string>();
    plan.datasets.forEach((dataset, index) =>
      dataset.codeSchemes.forEach((scheme, schemeIndex) => {
        const first = columns.get(scheme.column);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['datasets', index, 'codeSchemes', schemeIndex, 'column'], message: `column "${scheme.column}" repeats ${first}` });
        else columns.set(scheme.column, `datasets[${index}].codeSchemes[${schemeIndex}]`);
      }),
    );
  });

export type CodingStoreConfig = z.output<typeof codingStoreConfigSchema>;
export type CodingDataset = z.output<typeof codingDatasetSchema>;
export type CodingPlan = z.output<typeof codingPlanSchema>;
