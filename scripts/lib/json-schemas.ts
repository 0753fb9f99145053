/** The run config's JSON Schema, for editors (`# yaml-language-server: $schema=…`), generated from zod. */
import { z } from 'zod';

import { synthSpecSchema } from '../../activities/synth/spec';
import { pipelineConfig } from '../../config/pipeline-config';

/** JSON Schemas for editors, generated from the zod schemas by `npm run schema`. */
export const JSON_SCHEMAS = {
  'config/pipeline-config.schema.json': { schema: pipelineConfig, title: 'Pipeline run config' },
  'config/synth-spec.schema.json': { schema: synthSpecSchema, title: 'Synthetic data spec' },
} as const;

export function jsonSchemaText(file: keyof typeof JSON_SCHEMAS): string {
  const { schema, title } = JSON_SCHEMAS[file];
  return `${JSON.stringify({ ...z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }), title }, null, 2)}\n`;
}
