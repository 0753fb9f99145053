/** `npm run schema`: writes the run config's JSON Schema beside its zod source. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PIPELINE_CONFIG_SCHEMA_FILE, pipelineConfigJsonSchema } from '../config/json-schema';
import { PROJECT_ROOT } from './lib/tools';

writeFileSync(join(PROJECT_ROOT, PIPELINE_CONFIG_SCHEMA_FILE), pipelineConfigJsonSchema());
console.log(`wrote ${PIPELINE_CONFIG_SCHEMA_FILE}`);
