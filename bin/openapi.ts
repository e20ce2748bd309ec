/** `npm run openapi`: writes docs/openapi.json from the route table and the zod schemas (lib/openapi.ts). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OPENAPI_FILE, renderOpenApi } from '../lib/openapi.js';

writeFileSync(OPENAPI_FILE, renderOpenApi());
console.log(`Wrote ${fileURLToPath(OPENAPI_FILE)}`);
