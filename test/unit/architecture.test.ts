/**
 * The shape of src/ as a test (issue #13): no import cycles, and every import allowed by the rule
 * table below. Type-only imports count like any other: a cycle of types is still a tangle (the
 * files cannot be understood, moved or tested apart), and a feature that imports another feature's
 * types depends on it all the same.
 *
 * The checker itself is tested last, on small trees written to a temporary folder, so that this
 * test cannot go green because the checker stopped seeing imports.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkImports, checkLayers, findCycles, readImportGraph, type LayerRules } from '../support/import-graph.js';

/**
 * What each part of src/ may import. Keys are top-level parts (a part missing here fails the test,
 * so a new top-level folder is added on purpose); `features/*` is each feature on its own, and in
 * its list `features/*` means "its own folder only": features never import each other. An entry
 * naming a file rather than a folder is a narrow exception.
 */
export const RULES: LayerRules = {
  // npm start: loads the configuration and starts what the composition root builds.
  'main.ts': ['app', 'config'],
  // The composition root: builds everything. Not main.ts or cli/, which are its callers.
  app: ['app', 'config', 'domain', 'storage', 'lib', 'adapters', 'i18n', 'web', 'features'],
  config: ['config', 'lib'],
  // Pure: no storage, no delivery, no outside world.
  domain: ['domain', 'lib'],
  // backup.ts carries the server secrets with the data they protect (one file to keep safe).
  storage: ['storage', 'domain', 'lib', 'config/secrets.ts'],
  lib: ['lib'],
  adapters: ['adapters', 'domain', 'lib', 'i18n', 'config'],
  // Message catalogues; domain is allowed for the error codes the messages are keyed by.
  i18n: ['i18n', 'domain'],
  // The kit every feature uses, knowing no feature. store-faults.ts maps store failures to 503/507
  // and readiness.ts says whether the store answers: classifiers, not a way into the database.
  // adapters: the Services type names the outside-world services the features get (metrics).
  web: ['web', 'domain', 'lib', 'i18n', 'config', 'adapters', 'storage/store-faults.ts', 'storage/readiness.ts'],
  // store-faults.ts as for web: the mail-auth routes name the store fault in their log line.
  'features/*': ['features/*', 'web', 'domain', 'lib', 'i18n', 'config', 'adapters', 'storage/store-faults.ts'],
  // The operator's commands: the app to run them against, storage for backup, restore and
  // migrations, web for the links and formatting they print.
  cli: ['cli', 'app', 'config', 'domain', 'lib', 'i18n', 'storage', 'web'],
};

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');

describe('architecture of src/', () => {
  const result = checkImports(src, RULES);

  // All findings at once, one line each: a to-do list, not the first error of many.
  it('has no import cycles', () => {
    if (result.cycles.length > 0)
      assert.fail(`${result.cycles.length} import cycle(s) in src/:\n${result.cycles.join('\n')}`);
  });

  it('imports only what the rule table allows', () => {
    if (result.rules.length > 0)
      assert.fail(`${result.rules.length} import rule break(s) in src/:\n${result.rules.join('\n')}`);
  });
});

describe('the import checker', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  /** A tree of files in a fresh temporary folder; returns its root. */
  function tree(files: Record<string, string>): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-arch-'));
    dirs.push(root);
    for (const [name, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
      fs.writeFileSync(path.join(root, name), text);
    }
    return root;
  }

  it('passes a clean tree', () => {
    const root = tree({
      'main.ts':
        "import { start } from './app/context.js';\nimport { load } from './config/config.js';\nstart(load());",
      'app/context.ts':
        "import { signIn } from '../features/sign-in/routes.js';\nexport const start = (c: unknown) => signIn(c);",
      'config/config.ts': 'export const load = () => ({});',
      'features/sign-in/routes.ts':
        "import { page } from './pages.js';\nimport { html } from '../../web/html.js';\nexport const signIn = (c: unknown) => html(page(c));",
      'features/sign-in/pages.ts':
        "import type { Account } from '../../domain/model.js';\nexport const page = (c: unknown): Account | unknown => c;",
      'web/html.ts':
        "import { storeFault } from '../storage/store-faults.js';\nexport const html = (x: unknown) => storeFault(x);",
      'storage/store-faults.ts':
        "import { SesameError } from '../domain/errors.js';\nexport const storeFault = (x: unknown) => x instanceof SesameError;",
      'domain/model.ts':
        "import { clean } from '../lib/text.js';\nexport type Account = { a: string };\nexport const norm = clean;",
      'domain/errors.ts': 'export class SesameError extends Error {}',
      'lib/text.ts':
        '// import { nothing } from "../features/x/y.js"\nexport const clean = (s: string) => s.trim(); const t = "import \'../web/html.js\'";',
    });
    assert.deepEqual(checkImports(root, RULES), { cycles: [], rules: [] });
    // and the checker did read the imports (a checker seeing nothing would pass too):
    assert.equal(readImportGraph(root).edges.length, 9);
  });

  it('finds a cycle of three files and names them as a chain', () => {
    const root = tree({
      'lib/a.ts': "import { b } from './b.js';\nexport const a = () => b;",
      'lib/b.ts': "import { c } from './c.js';\nexport const b = () => c;",
      'lib/c.ts': "import { a } from './a.js';\nexport const c = () => a;",
      'lib/d.ts': "import { a } from './a.js';\nexport const d = a;",
    });
    const cycles = findCycles(readImportGraph(root));
    assert.deepEqual(cycles, [
      { files: ['lib/a.ts', 'lib/b.ts', 'lib/c.ts'], chain: ['lib/a.ts', 'lib/b.ts', 'lib/c.ts', 'lib/a.ts'] },
    ]);
    assert.deepEqual(checkImports(root, RULES).cycles, [
      'import cycle of 3 files: lib/a.ts → lib/b.ts → lib/c.ts → lib/a.ts',
    ]);
  });

  it('finds a file that imports itself', () => {
    const root = tree({ 'lib/a.ts': "export * from './a.js';" });
    assert.deepEqual(checkImports(root, RULES).cycles, ['self-import: lib/a.ts → lib/a.ts']);
  });

  it('reports a feature importing another feature, with file, line, import and rule', () => {
    const root = tree({
      'features/admin/pages.ts':
        "import { html } from '../../web/html.js';\nimport { own } from './own.js';\nimport { form } from '../sign-in/forms.js';\nimport { r } from '../admin-reports/r.js';\nexport const p = [html, own, form, r];",
      'features/admin/own.ts': 'export const own = 1;',
      // a name that starts like the importer's own: still another feature
      'features/admin-reports/r.ts': 'export const r = 1;',
      'features/sign-in/forms.ts': 'export const form = 1;',
      'web/html.ts': 'export const html = 1;',
    });
    assert.deepEqual(checkImports(root, RULES).rules, [
      "features/admin/pages.ts:3 imports '../sign-in/forms.js' (features/sign-in/forms.ts), but features/* may import only features/admin, web, domain, lib, i18n, config, adapters, storage/store-faults.ts",
      "features/admin/pages.ts:4 imports '../admin-reports/r.js' (features/admin-reports/r.ts), but features/* may import only features/admin, web, domain, lib, i18n, config, adapters, storage/store-faults.ts",
    ]);
  });

  it('reports the kit importing a feature, and storage beyond the one allowed file', () => {
    const root = tree({
      'web/layout.ts':
        "import { menu } from '../features/admin/menu.js';\nimport { db } from '../storage/db.js';\nimport { storeFault } from '../storage/store-faults.js';\nexport const l = [menu, db, storeFault];",
      'features/admin/menu.ts': 'export const menu = 1;',
      'storage/db.ts': 'export const db = 1;',
      'storage/store-faults.ts': 'export const storeFault = 1;',
    });
    assert.deepEqual(
      checkLayers(readImportGraph(root), RULES).map((b) => `${b.file}:${b.line} ${b.to}`),
      ['web/layout.ts:1 features/admin/menu.ts', 'web/layout.ts:2 storage/db.ts'],
    );
  });

  it('sees `import type`, both in cycles and against the rules', () => {
    const root = tree({
      'domain/a.ts': "import type { B } from './b.js';\nexport type A = { b?: B };",
      'domain/b.ts': "import type { A } from './a.js';\nexport type B = { a?: A };",
      'domain/c.ts': "import type { Db } from '../storage/db.js';\nexport type C = Db;",
      'storage/db.ts': 'export type Db = { x: 1 };',
    });
    const result = checkImports(root, RULES);
    assert.deepEqual(result.cycles, ['import cycle of 2 files: domain/a.ts → domain/b.ts → domain/a.ts']);
    assert.deepEqual(result.rules, [
      "domain/c.ts:1 imports '../storage/db.js' (storage/db.ts), but domain may import only domain, lib",
    ]);
  });

  it('sees dynamic `import()`, type queries, `export ... from` and `require()`', () => {
    const root = tree({
      'lib/a.ts': "export async function load() {\n  return (await import('../adapters/mailer.js')).send;\n}",
      'lib/b.ts': "export type I = typeof import('../i18n/en.js');",
      'lib/c.ts': "export { en } from '../i18n/en.js';",
      'lib/d.ts':
        "import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\nexport const m = require('../adapters/mailer.js');",
      'adapters/mailer.ts': 'export const send = 1;',
      'i18n/en.ts': 'export const en = {};',
    });
    assert.deepEqual(
      checkLayers(readImportGraph(root), RULES).map((b) => `${b.file}:${b.line} ${b.to}`),
      [
        'lib/a.ts:2 adapters/mailer.ts',
        'lib/b.ts:1 i18n/en.ts',
        'lib/c.ts:1 i18n/en.ts',
        'lib/d.ts:3 adapters/mailer.ts',
      ],
    );
  });

  it('reports files in parts the table does not know, and imports that name no file', () => {
    const root = tree({
      'platform/csv.ts': "import { x } from './gone.js';\nexport const csv = x;",
      'platform/fsync.ts': 'export {};',
      'app-context.ts': 'export const ctx = 1;',
      'features/index.ts': 'export {};',
    });
    assert.deepEqual(checkImports(root, RULES).rules, [
      `platform/csv.ts:1 imports './gone.js', which names no file under ${root}`,
      "'app-context.ts' is not in the rule table: add it there (a new top-level part is a decision) or move its files",
      "'features' (1 file, e.g. features/index.ts) is not in the rule table: add it there (a new top-level part is a decision) or move its files",
      "'platform' (2 files, e.g. platform/csv.ts) is not in the rule table: add it there (a new top-level part is a decision) or move its files",
    ]);
  });
});
