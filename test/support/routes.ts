/**
 * Every route a built app serves, read from Fastify's own route tree (printRoutes), so that a
 * security test can walk all of them and a route added later is walked too, without anyone
 * remembering to list it.
 */
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';

export interface Route {
  method: string;
  /** The path as registered, parameters included (`/api/v1/users/:address/mfa`). */
  url: string;
}

/**
 * Parses `printRoutes({ commonPrefix: false })`: one node per line, drawn as a tree whose depth is
 * the column where the segment starts (4 per level); a node's path is its parent's path followed
 * by its own segment.
 */
export function routesOf(app: FastifyInstance): Route[] {
  const text = app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: Route[] = [];
  for (const line of text.split('\n')) {
    const m = /^([│ ]*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    const path = (depth === 0 ? '' : stack[depth - 1]!) + m[2]!;
    stack[depth] = path;
    stack.length = depth + 1;
    for (const method of (m[3] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean))
      routes.push({ method, url: path });
  }
  if (routes.length < 10) throw new Error(`could not read the routes from printRoutes():\n${text}`);
  return routes;
}

/** What a security test's client can ask an admin page (test/support/world.ts's Browser over inject()). */
export interface PageClient<A> {
  get(url: string): Promise<A>;
  post(url: string, form: Record<string, string>): Promise<A>;
}

/**
 * Asks every admin page route of `app` (no HEAD; at least 12 of them) with `b`, about `address`: a
 * GET with `?address=`, or a POST of the form `form()` gives (called for each POST, just before it),
 * and hands each answer to `check`, in route order.
 */
export async function askEveryAdminPage<A>(
  app: FastifyInstance,
  b: PageClient<A>,
  address: string,
  form: () => Record<string, string> | Promise<Record<string, string>>,
  check: (r: Route, res: A) => void,
): Promise<void> {
  const pages = routesOf(app).filter((r) => r.url.startsWith('/admin') && r.method !== 'HEAD');
  assert.ok(pages.length >= 12, `${pages.length} admin page routes`);
  for (const r of pages)
    check(
      r,
      r.method === 'GET'
        ? await b.get(`${r.url}?address=${encodeURIComponent(address)}`)
        : await b.post(r.url, await form()),
    );
}
