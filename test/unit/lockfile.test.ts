/**
 * The lockfile pins what a fresh clone installs (`npm ci`) to what was tested: it exists, is
 * lockfileVersion 3, agrees with package.json (npm ci refuses otherwise), and holds every direct
 * dependency at a version inside its declared range, with an integrity hash for every package.
 * Advisories themselves need the network: `npm audit --omit=dev --audit-level=high` (docs/security.md).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface LockEntry {
  version?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as T;

/** `version` within `range`, for the range forms this project uses: exact, ^ and ~ (anything else fails: a range such as * or latest pins nothing). */
function satisfies(version: string, range: string): boolean {
  const v = /^(\d+)\.(\d+)\.(\d+)$/.exec(version)?.slice(1).map(Number);
  const m = /^([~^]?)(\d+)\.(\d+)\.(\d+)$/.exec(range);
  if (!v || !m) return false;
  const [op, ...low] = [m[1]!, Number(m[2]), Number(m[3]), Number(m[4])] as const;
  const cmp = (a: readonly number[], b: readonly number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
  if (cmp(v, low) < 0) return false;
  if (op === '') return cmp(v, low) === 0;
  // ~1.2.3 < 1.3.0; ^1.2.3 < 2.0.0; ^0.2.3 < 0.3.0; ^0.0.3 < 0.0.4.
  const high =
    op === '~'
      ? [low[0], low[1] + 1, 0]
      : low[0] > 0
        ? [low[0] + 1, 0, 0]
        : low[1] > 0
          ? [0, low[1] + 1, 0]
          : [0, 0, low[2] + 1];
  return cmp(v, high) < 0;
}

describe('package-lock.json', () => {
  const pkg = readJson<Manifest>('package.json');

  it('exists, is lockfileVersion 3, and agrees with package.json', () => {
    assert.ok(fs.existsSync(path.join(root, 'package-lock.json')), 'package-lock.json is committed');
    const lock = readJson<{ name: string; lockfileVersion: number; packages: Record<string, LockEntry> }>(
      'package-lock.json',
    );
    assert.equal(lock.lockfileVersion, 3);
    assert.equal(lock.name, pkg.name);
    const top = lock.packages['']!;
    assert.deepEqual(
      top.dependencies ?? {},
      pkg.dependencies ?? {},
      'dependencies as in package.json (run npm install)',
    );
    assert.deepEqual(
      top.devDependencies ?? {},
      pkg.devDependencies ?? {},
      'devDependencies as in package.json (run npm install)',
    );
  });

  it('pins every direct dependency inside its range (production ones not marked dev), and every package has a version and an integrity hash', () => {
    const lock = readJson<{ packages: Record<string, LockEntry> }>('package-lock.json');
    for (const [kind, deps] of [
      ['dependencies', pkg.dependencies ?? {}],
      ['devDependencies', pkg.devDependencies ?? {}],
    ] as const) {
      for (const [name, range] of Object.entries(deps)) {
        const entry = lock.packages[`node_modules/${name}`];
        assert.ok(entry, `${name} is in the lockfile`);
        assert.ok(satisfies(entry.version ?? '', range), `${name}@${entry.version} is within ${range}`);
        if (kind === 'dependencies') assert.ok(!entry.dev, `${name} is a production dependency, not dev`);
      }
    }
    const unpinned = Object.entries(lock.packages).filter(
      ([where, e]) => where !== '' && !e.link && (!e.version || !/^sha512-/.test(e.integrity ?? '')),
    );
    assert.deepEqual(
      unpinned.map(([where]) => where),
      [],
      'every package has a version and a sha512 integrity',
    );
  });

  it('range check: exact, caret and tilde ranges, including 0.x', () => {
    const cases: [string, string, boolean][] = [
      ['0.28.19', '^0.28.19', true],
      ['0.28.25', '^0.28.19', true],
      ['0.29.0', '^0.28.19', false],
      ['0.28.18', '^0.28.19', false],
      ['12.11.1', '^12.11.1', true],
      ['13.0.0', '^12.11.1', false],
      ['1.2.9', '~1.2.3', true],
      ['1.3.0', '~1.2.3', false],
      ['0.0.3', '^0.0.3', true],
      ['0.0.4', '^0.0.3', false],
      ['2.0.0', '2.0.0', true],
      ['2.0.1', '2.0.0', false],
      ['1.0.0', '*', false],
      ['1.0.0-beta.1', '^1.0.0', false],
    ];
    for (const [v, r, want] of cases) assert.equal(satisfies(v, r), want, `${v} in ${r}`);
  });
});
