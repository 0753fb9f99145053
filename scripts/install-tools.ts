/** `npm run install-tools`: builds whatever Go tool is missing; idempotent. */
import { ensureTool, TOOLS } from './lib/tools';

for (const tool of Object.values(TOOLS)) console.log(`${tool.binary}: ${ensureTool(tool)}`);
