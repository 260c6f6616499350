// Writes docs/configuration.md from the compiled option table (npm run docs:config).
import fs from 'node:fs';
import { configurationMarkdown } from '../dist/src/config/docs.js';
fs.writeFileSync(new URL('../docs/configuration.md', import.meta.url), configurationMarkdown());
