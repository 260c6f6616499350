/**
 * A tiny browser over fetch for tests against a real server (test/support/world.ts has the same
 * over inject()): a cookie jar, no redirects followed, a language, and the sign-in form.
 */
import assert from 'node:assert/strict';

export interface FetchAnswer {
  status: number;
  body: string;
  headers: Headers;
}

export class FetchBrowser {
  readonly jar = new Map<string, string>();
  constructor(
    readonly base: string,
    private readonly lang = 'en',
  ) {}

  async request(url: string, init: RequestInit = {}): Promise<FetchAnswer> {
    const r = await fetch(`${this.base}${url}`, {
      redirect: 'manual',
      ...init,
      headers: {
        'accept-language': this.lang,
        cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(init.headers as Record<string, string> | undefined),
      },
      signal: AbortSignal.timeout(15_000),
    });
    for (const c of r.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      const value = pair.slice(eq + 1);
      if (value === '' || /max-age=0/i.test(c)) this.jar.delete(pair.slice(0, eq));
      else this.jar.set(pair.slice(0, eq), value);
    }
    return { status: r.status, body: await r.text(), headers: r.headers };
  }

  get(url: string): Promise<FetchAnswer> {
    return this.request(url);
  }

  /** Loads `pageUrl` for its CSRF token and posts `form` to `action` with it. */
  async submit(pageUrl: string, action: string, form: Record<string, string>): Promise<FetchAnswer> {
    const page = await this.get(pageUrl);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
    assert.ok(csrf, `no CSRF token on ${pageUrl} (${page.status})`);
    return this.request(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, ...form }).toString(),
    });
  }

  signIn(email: string, password: string): Promise<FetchAnswer> {
    return this.submit('/signin', '/signin', { email, password });
  }
}
