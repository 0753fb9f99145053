/** `npm run schema`: writes the JSON Schemas of the run config and the synthetic data spec. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { JSON_SCHEMAS, jsonSchemaText } from './lib/json-schemas';
import { PROJECT_ROOT } from './lib/tools';

for (const file of Object.keys(JSON_SCHEMAS) as Array<keyof typeof JSON_SCHEMAS>) {
  writeFileSync(join(PROJECT_ROOT, file), jsonSchemaText(file));
  console.log(`wrote ${file}`);
}
