/**
 * `sesame integration config <target>`, the real CLI beside the real server (SQLite, a free loopback
 * port): every target renders with no placeholder left; --out writes each file at its place with its
 * mode (and, as root, its group); the key in the files is a fresh, working integration key; wrong
 * usage (no target, a missing required flag, https for nginx's auth_http, a taken name) exits 2 or 1
 * and leaves no integration behind. That the files work on stock servers is for test/e2e/integrations-*.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONFIG_TARGETS } from '../../src/cli/integration-config/index.js';
import { TEMPLATES } from '../../src/cli/integration-config/model.js';
import { freePort, ROOT, serverEnv, startServer, type StartedServer } from '../support/processes.js';

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function sesame(env: NodeJS.ProcessEnv, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/sesame.js', ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** The flags every required setting of a target needs, with a plausible value. */
function requiredFlags(name: string): string[] {
  const target = CONFIG_TARGETS.find((t) => t.name === name)!;
  const plausible: Record<string, string> = {
    address: '192.0.2.1',
    certificate: '/etc/ssl/certs/mail.example.com.pem',
    'certificate-key': '/etc/ssl/private/mail.example.com.key',
    domain: 'example.com',
    site: 'dav.example.com',
    hostname: 'mail.example.com',
    upstream: 'http://127.0.0.1:5232',
  };
  return target.settings
    .filter((s) => s.default === undefined)
    .flatMap((s) => [`--${s.flag}`, plausible[s.flag] ?? `x-${s.flag}`]);
}

describe('sesame integration config', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let server: StartedServer;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-intconf-'));
    const port = await freePort();
    env = serverEnv(path.join(dir, 'data'), port);
    server = await startServer({ env });
  });
  after(async () => {
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The integrations' lines of `sesame integration list` (name and when added), without their
   * "last seen" lines: the server records a key's use after answering, so those change by themselves.
   */
  async function integrationNames(): Promise<string> {
    const out = (await sesame(env, ['integration', 'list'])).out;
    return out
      .split('\n')
      .filter((l) => l && !/^\s/.test(l))
      .join('\n');
  }

  it('renders every target with nothing left to fill in, each file after a ==> path <== line', async () => {
    // All at once: each is its own process (and its own integration name).
    const runs = await Promise.all(
      CONFIG_TARGETS.map((t) =>
        sesame(env, ['integration', 'config', t.name, '--name', `all-${t.name}`, ...requiredFlags(t.name)]),
      ),
    );
    for (const [i, t] of CONFIG_TARGETS.entries()) {
      const r = runs[i]!;
      assert.equal(r.code, 0, `${t.name}: ${r.err}`);
      for (const f of t.files)
        assert.ok(r.out.includes(`==> ${path.posix.join(t.folder, f.path)} <==`), `${t.name}: ${f.path}`);
      assert.doesNotMatch(r.out, /@[A-Z][A-Z0-9_]*@/, `${t.name}: a placeholder left`);
      // Postfix asks Dovecot, not Sesame: only targets that call Sesame carry its URL.
      const callsSesame = t.files.some((f) =>
        fs.readFileSync(path.join(TEMPLATES, f.template), 'utf8').includes('@SESAME_URL@'),
      );
      if (callsSesame)
        assert.ok(r.out.includes(server.base), `${t.name}: Sesame's URL (${server.base}) is in the files`);
      if (t.integration) assert.match(r.out, /sesame_int_[A-Za-z0-9_-]{20,}/, `${t.name}: a key`);
      else assert.doesNotMatch(r.out, /sesame_int_/, `${t.name} needs no key`);
    }
  });

  it('--out writes each file at its place with its mode, and the key in it is a working integration key', async () => {
    const out = path.join(dir, 'etc-dovecot');
    const r = await sesame(env, ['integration', 'config', 'dovecot', '--out', out]);
    assert.equal(r.code, 0, r.err);
    const target = CONFIG_TARGETS.find((t) => t.name === 'dovecot')!;
    let key: string | undefined;
    for (const f of target.files) {
      const file = path.join(out, f.path);
      const st = fs.statSync(file);
      assert.equal(st.mode & 0o777, f.mode, `${f.path} mode`);
      if (f.mode & 0o004) continue;
      // A file that holds the key is readable by its server's group only.
      if (f.group && process.getuid?.() === 0) {
        const gid = fs
          .readFileSync('/etc/group', 'utf8')
          .split('\n')
          .find((l) => l.startsWith(`${f.group}:`))
          ?.split(':')[2];
        if (gid) assert.equal(st.gid, Number(gid), `${f.path} group ${f.group}`);
      }
      key ??= /sesame_int_[A-Za-z0-9_-]+/.exec(fs.readFileSync(file, 'utf8'))?.[0];
    }
    assert.ok(key, 'the key is in a file readable only by its server');
    // The doveadm API's fresh key: the same in Dovecot's file and in the line for Sesame's environment.
    const apiKey = /^doveadm_api_key = (\S+)$/m.exec(
      fs.readFileSync(path.join(out, 'conf.d/99-sesame-doveadm-api.conf'), 'utf8'),
    )?.[1];
    assert.ok(apiKey && apiKey.length >= 40, 'a long random doveadm API key');
    assert.ok(r.err.includes(`SESAME_DOVEADM_API_KEY=${apiKey}`), r.err);
    assert.ok(r.err.includes('SESAME_DOVEADM_URL=http://127.0.0.1:8082/doveadm/v1'), r.err);
    assert.match(await integrationNames(), /^dovecot\s/m);
    // Sesame knows the key: a wrong password is answered as such, not with the Bearer challenge of an unknown key.
    const ask = (bearer: string) =>
      fetch(`${server.base}/auth/mail`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          user: 'nobody@example.com',
          password: 'wrong wrong',
          service: 'imap',
          remoteIp: '192.0.2.7',
        }),
      });
    const good = await ask(key);
    assert.equal(good.status, 401);
    assert.equal(good.headers.get('www-authenticate'), null, 'the key is known');
    const bad = await ask(`${key.slice(0, -2)}xx`);
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer/, 'a changed key is not');
    // A second run under the same name is refused (its key cannot be shown again); another name works.
    const again = await sesame(env, ['integration', 'config', 'dovecot', '--out', out]);
    assert.equal(again.code, 1, again.err);
    const other = await sesame(env, [
      'integration',
      'config',
      'dovecot',
      '--name',
      'dovecot-2',
      '--out',
      path.join(dir, 'd2'),
    ]);
    assert.equal(other.code, 0, other.err);
  });

  it('wrong usage exits 2 and leaves no integration behind', async () => {
    const none = await sesame(env, ['integration', 'config']);
    assert.equal(none.code, 2);
    for (const t of CONFIG_TARGETS) assert.ok(none.err.includes(t.name), `the targets are listed: ${t.name}`);
    const unknown = await sesame(env, ['integration', 'config', 'exim']);
    assert.equal(unknown.code, 2);
    const before = await integrationNames();
    const missing = await sesame(env, ['integration', 'config', 'nginx-mail', '--name', 'nm-missing']);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /needs --(address|hostname|certificate)/);
    const tls = await sesame(env, [
      'integration',
      'config',
      'nginx-mail',
      '--name',
      'nm-tls',
      '--url',
      'https://sesame.example.com',
      ...requiredFlags('nginx-mail'),
    ]);
    assert.equal(tls.code, 2);
    assert.match(tls.err, /plain http/);
    assert.equal(await integrationNames(), before, 'no key was made for a refused command');
    const help = await sesame(env, ['integration', 'config', 'nginx-mail', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /--hostname VALUE .*\(required\)/);
  });
});
