/**
 * The import graph of a source tree, and the two checks the architecture test makes on it: no
 * cycles, and every import allowed by a table of layer rules.
 *
 * Imports are read with TypeScript's own pre-processor (`ts.preProcessFile`) rather than a regular
 * expression: it sees `import type`, `export ... from`, side-effect imports, dynamic `import()` and
 * `import('x').T` type queries, and it skips strings and comments, so a checker that passes is not
 * passing because it missed an import. Only relative imports are followed: packages and `node:`
 * modules are outside the layering these rules are about.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** One import of one file; paths are relative to the root, with `/`, e.g. `domain/errors.ts`. */
export interface ImportEdge {
  from: string;
  to: string;
  specifier: string;
  line: number;
}

export interface ImportGraph {
  root: string;
  files: string[];
  edges: ImportEdge[];
  /** Relative imports that name nothing inside the root: an edge the checks could not see. */
  unresolved: Omit<ImportEdge, 'to'>[];
}

function listTsFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && entry.name.endsWith('.ts'))
        out.push(path.relative(root, full).split(path.sep).join('/'));
    }
  };
  walk(root);
  return out.sort();
}

/**
 * Where a relative specifier lands, relative to the root: ESM sources name the compiled file
 * (`./x.js`, `./dir/index.js`), so `.js` maps back to the `.ts` beside it. `null` when nothing
 * inside the root matches; `'outside'` when it leaves the root (not part of this graph).
 */
function resolve(root: string, fromFile: string, specifier: string, known: Set<string>): string | null | 'outside' {
  const abs = path.resolve(root, path.dirname(fromFile), specifier);
  const rel = path.relative(root, abs).split(path.sep).join('/');
  if (rel.startsWith('../') || path.isAbsolute(rel)) return 'outside';
  const candidates = [rel.replace(/\.js$/, '.ts'), rel, `${rel}.ts`, `${rel}/index.ts`];
  for (const c of candidates) if (known.has(c)) return c;
  // A non-TypeScript file inside the root (JSON, say) is a leaf: it still counts for the layers.
  if (fs.existsSync(abs) && fs.statSync(abs).isFile()) return rel;
  return null;
}

function lineAt(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

export function readImportGraph(root: string): ImportGraph {
  const files = listTsFiles(root);
  const known = new Set(files);
  const edges: ImportEdge[] = [];
  const unresolved: ImportGraph['unresolved'] = [];
  for (const from of files) {
    const text = fs.readFileSync(path.join(root, from), 'utf8');
    // Static imports, re-exports and `import()` always; the last `true` adds `require()` calls too
    // (a `createRequire` require is an import all the same).
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      const specifier = ref.fileName;
      if (!specifier.startsWith('./') && !specifier.startsWith('../')) continue;
      const line = lineAt(text, ref.pos);
      const to = resolve(root, from, specifier, known);
      if (to === 'outside') continue;
      if (to === null) unresolved.push({ from, specifier, line });
      else edges.push({ from, to, specifier, line });
    }
  }
  return { root, files, edges, unresolved };
}

export interface Cycle {
  /** Every file in the tangle (a strongly connected component), sorted. */
  files: string[];
  /** One concrete loop through the tangle, first file repeated at the end: a → b → c → a. */
  chain: string[];
}

/**
 * Tangles of files that reach each other through imports: Tarjan's strongly connected components
 * of more than one file, plus files that import themselves. A component of 19 files is not one
 * loop of 19, so each is reported with its members and the shortest loop through its first file,
 * which is the readable part of the story; breaking that loop is a start, not necessarily the end.
 */
export function findCycles(graph: ImportGraph): Cycle[] {
  const next = new Map<string, string[]>();
  for (const f of graph.files) next.set(f, []);
  for (const e of graph.edges) next.get(e.from)?.push(e.to);
  for (const list of next.values()) list.sort();

  // Tarjan, iterative so a deep chain of imports cannot overflow the stack.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const start of graph.files) {
    if (index.has(start)) continue;
    const work: { node: string; i: number }[] = [{ node: start, i: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const succ = next.get(top.node) ?? [];
      if (top.i < succ.length) {
        const w = succ[top.i++]!;
        if (!next.has(w)) continue; // a non-TypeScript leaf
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          work.push({ node: w, i: 0 });
        } else if (onStack.has(w)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (low.get(top.node) === index.get(top.node)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== top.node);
        components.push(component.sort());
      }
    }
  }

  const cycles: Cycle[] = [];
  for (const files of components) {
    const first = files[0]!;
    const selfLoop = next.get(first)!.includes(first);
    if (files.length === 1 && !selfLoop) continue;
    cycles.push({ files, chain: shortestLoop(first, new Set(files), next) });
  }
  return cycles.sort((a, b) => b.files.length - a.files.length || a.files[0]!.localeCompare(b.files[0]!));
}

/** Breadth-first from `start` back to itself, staying inside the component. */
function shortestLoop(start: string, inside: Set<string>, next: Map<string, string[]>): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const w of next.get(node) ?? []) {
      if (w === start) {
        const chain = [start];
        for (let n = node; n !== start; n = cameFrom.get(n)!) chain.splice(1, 0, n);
        chain.push(start);
        return chain;
      }
      if (inside.has(w) && !cameFrom.has(w)) {
        cameFrom.set(w, node);
        queue.push(w);
      }
    }
  }
  return [start, start]; // unreachable for a real component
}

/**
 * Which parts of the tree each part may import, as data. A key is a top-level file (`main.ts`), a
 * top-level folder (`domain`), or `features/*`: each folder under features/ on its own. An allowed
 * entry is a path prefix relative to the root: a folder (`lib`), a single file as a narrow
 * exception (`storage/store-faults.ts`), or `features/*`, which means the importer's own feature.
 */
export type LayerRules = Readonly<Record<string, readonly string[]>>;

export interface LayerBreak {
  file: string;
  /** Empty when the file's part is not in the table (then `file` is its first file). */
  specifier: string;
  to: string;
  line: number;
  message: string;
}

/** The rule key of a file and, under features/, the feature's name. */
function layerOf(file: string): { key: string; feature?: string } {
  const parts = file.split('/');
  if (parts.length === 1) return { key: file };
  if (parts[0] === 'features' && parts.length >= 3) return { key: 'features/*', feature: parts[1]! };
  return { key: parts[0]! };
}

function allows(entry: string, feature: string | undefined, target: string): boolean {
  const prefix = feature === undefined ? entry : entry.replace('*', feature);
  return target === prefix || target.startsWith(`${prefix}/`);
}

export function checkLayers(graph: ImportGraph, rules: LayerRules): LayerBreak[] {
  const breaks: LayerBreak[] = [];
  // A part the table does not know fails once, not once per file: the fix is one decision.
  const unknown = new Map<string, string[]>();
  for (const file of graph.files) {
    const { key } = layerOf(file);
    if (!Object.hasOwn(rules, key)) unknown.set(key, [...(unknown.get(key) ?? []), file]);
  }
  for (const [key, files] of unknown) {
    const which =
      files.length === 1 && files[0] === key
        ? ''
        : ` (${files.length} file${files.length === 1 ? '' : 's'}, e.g. ${files[0]})`;
    breaks.push({
      file: files[0]!,
      specifier: '',
      to: '',
      line: 0,
      message: `'${key}'${which} is not in the rule table: add it there (a new top-level part is a decision) or move its files`,
    });
  }
  for (const e of graph.edges) {
    const { key, feature } = layerOf(e.from);
    const allowed = Object.hasOwn(rules, key) ? rules[key] : undefined;
    if (!allowed) continue; // its part is already reported above
    if (allowed.some((entry) => allows(entry, feature, e.to))) continue;
    const shown = allowed.map((a) => (feature === undefined ? a : a.replace('*', feature))).join(', ');
    breaks.push({
      file: e.from,
      specifier: e.specifier,
      to: e.to,
      line: e.line,
      message: `${e.from}:${e.line} imports '${e.specifier}' (${e.to}), but ${key} may import only ${shown}`,
    });
  }
  return breaks;
}

/**
 * Both checks on a tree, as one-line messages (empty when all is well): what the architecture test
 * asserts, exported so it can be run on any tree, e.g. before and after moving files.
 */
export function checkImports(root: string, rules: LayerRules): { cycles: string[]; rules: string[] } {
  const graph = readImportGraph(root);
  return {
    cycles: findCycles(graph).map(describeCycle),
    rules: [
      ...graph.unresolved.map((u) => `${u.from}:${u.line} imports '${u.specifier}', which names no file under ${root}`),
      ...checkLayers(graph, rules).map((b) => b.message),
    ],
  };
}

export function describeCycle(c: Cycle): string {
  const loop = c.chain.join(' → ');
  if (c.files.length === 1) return `self-import: ${loop}`;
  const others = c.files.filter((f) => !c.chain.includes(f));
  return `import cycle of ${c.files.length} files: ${loop}${others.length > 0 ? `; also in the tangle: ${others.join(', ')}` : ''}`;
}
