import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { configurationMarkdown } from '../../src/config/docs.js';

it('docs/configuration.md is generated from the option table (run `npm run docs:config`)', () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  assert.equal(fs.readFileSync(path.join(root, 'docs/configuration.md'), 'utf8'), configurationMarkdown());
});
