// Writes agent.config.schema.json from the zod schema (`npm run schema`); a test checks it is current.
import { writeFile } from 'node:fs/promises';
import { configJsonSchema } from './config.js';

const out = new URL('../agent.config.schema.json', import.meta.url);
await writeFile(out, JSON.stringify(configJsonSchema(), null, 2) + '\n');
console.log(`wrote ${out.pathname}`);
