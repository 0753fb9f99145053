/** The run config's JSON Schema, for editors (`# yaml-language-server: $schema=…`), generated from zod. */
import { z } from 'zod';
import { pipelineConfig } from './pipeline-config';

export const PIPELINE_CONFIG_SCHEMA_FILE = 'config/pipeline-config.schema.json';

export function pipelineConfigJsonSchema(): string {
  const schema = z.toJSONSchema(pipelineConfig, { io: 'input', unrepresentable: 'any' });
  return `${JSON.stringify({ ...schema, title: 'Pipeline run config' }, null, 2)}\n`;
}
