/**
 * docs/forward-auth.md followed literally (issue #16, items 2 to 4): on a throwaway copy of a stock
 * Debian host (test/support/sandbox-host.ts), Sesame runs inside on 127.0.0.1:8080 with
 * SESAME_TRUSTED_PROXIES as the doc says; the doc's own shell blocks set up Debian's Radicale, then
 * Debian's nginx, then Debian's Caddy (from their stock /etc plus what `sesame integration config`
 * writes); the test adds only the organization, the users and their app passwords, a certificate for
 * dav.example.com from a throwaway CA, the name in /etc/hosts, and clients: python3-caldav and curl.
 *
 *   - Alice's DAV app password works through nginx and through Caddy (a calendar and an event made
 *     and listed with python3-caldav, an address book and a contact with curl); her http-only and
 *     IMAP-only app passwords and a wrong password get 401 with Sesame's Basic challenge; the DAV
 *     one is refused on IMAP (/auth/mail) and on plain `http`, and the sign-in log says `dav` with
 *     the client's address (the proxy's X-Forwarded-For believed, a forged one not).
 *   - Every identity header of the doc's list, and its `_` spelling, sent forged (with Alice's good
 *     password, and with none) never reaches the backend: Alice gets 403, never 207, on Bob's
 *     calendar, and a header echo put where Radicale listens shows only Sesame's values.
 *   - An Apple configuration profile for a DAV app password (#18, items 2 and 5), fetched once by a
 *     device with no session and read with plistlib: python3-caldav and curl reach Radicale behind
 *     Caddy with only the URL, user name and app password it holds.
 *   - Traefik (not packaged in Debian) is checked by reading its generated file: the stripping
 *     middleware covers the list in both spellings and comes before forwardAuth.
 *
 * Needs root, and the Debian packages scripts/test.sh installs (nginx, caddy, radicale,
 * python3-caldav, python3-yaml, curl, openssl).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { PROTOCOLS, type Protocol } from '../../src/domain/app-passwords/model.js';
import { requireBuild, ROOT, stopProcess } from '../support/processes.js';
import { readPlist } from '../support/plist.js';
import { docSteps, SandboxHost } from '../support/sandbox-host.js';

const run = promisify(execFile);
const DOC = fs.readFileSync(path.join(ROOT, 'docs/forward-auth.md'), 'utf8');
const SITE = 'https://dav.example.com';
const ALICE = { address: 'alice@example.com', name: 'Alice Example', password: 'harbour-violet-lantern-42' };
const BOB = { address: 'bob@example.com', name: 'Bob Example', password: 'meadow-copper-quiet-77' };
/** A client address other than the proxy's (all of 127/8 is this sandbox's loopback). */
const CLIENT_IP = '127.0.0.5';

/** The doc's identity-header table: each header, and whether the files set it (from Sesame) or remove it. */
function identityHeaders(): { name: string; set: boolean }[] {
  const m = /<!-- identity-headers: begin -->([\s\S]*?)<!-- identity-headers: end -->/.exec(DOC);
  assert.ok(m, 'docs/forward-auth.md has the identity-header table');
  const rows = [...m[1]!.matchAll(/^\| `([A-Za-z-]+)` \|[^|]*\| (set from Sesame's answer|removed) \|$/gm)];
  return rows.map((r) => ({ name: r[1]!, set: r[2] !== 'removed' }));
}
const HEADERS = identityHeaders();
const underscored = (h: string) => h.replace(/-/g, '_');

/** A tiny header echo: answers every request with the headers it got, as JSON (stands where Radicale listens). */
const ECHO_PY = `
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = json.dumps({"method": self.command, "headers": [[k, v] for k, v in self.headers.items()]}).encode()
        with open(sys.argv[2], "a") as log: log.write(self.command + " " + self.path + "\\n")
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    do_GET = do_PROPFIND = do_POST = do_PUT = answer
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", 5232), H).serve_forever()
`;

/** python3-caldav as an app would use it: makes a calendar with an event (if asked), lists calendars and events. */
const CALDAV_PY = `
import json, sys, caldav
url, user, password, cafile, make = sys.argv[1:6]
c = caldav.DAVClient(url=url, username=user, password=password, ssl_verify_cert=cafile)
p = c.principal()
if make == "yes":
    cal = p.make_calendar(name="Work", cal_id="work")
    cal.save_event("""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//sesame test//EN
BEGIN:VEVENT
UID:standup-%s@example.com
DTSTAMP:20261207T090000Z
DTSTART:20261208T090000Z
DTEND:20261208T091500Z
SUMMARY:Stand-up
END:VEVENT
END:VCALENDAR
""" % user.split("@")[0])
cals = p.calendars()
print(json.dumps({"principal": str(p.url), "calendars": [str(x.url) for x in cals],
    "events": [e.vobject_instance.vevent.summary.value for x in cals for e in x.events()]}))
`;

describe('forward auth in front of Radicale through nginx and Caddy, as docs/forward-auth.md says', () => {
  let host: SandboxHost;
  let dir = '';
  let sesame: ChildProcess | undefined;
  let env: Record<string, string> = {};
  let integrationKey = '';
  let profileToken = '';
  /** Alice's DAV sign-ins logged with the client's address after the nginx part. */
  let davFromClient = 0;
  const pw: Record<'aliceDav' | 'aliceHttp' | 'aliceImap' | 'bobDav', string> = {
    aliceDav: '',
    aliceHttp: '',
    aliceImap: '',
    bobDav: '',
  };

  /** Runs a doc's blocks as they are, in the repository checkout, with Sesame's environment. */
  async function steps(name: string) {
    const blocks = docSteps(DOC, name);
    assert.ok(blocks.length > 0, `docs/forward-auth.md has <!-- test: ${name} --> blocks`);
    for (const b of blocks) {
      const r = await host.sh(b, { env, cwd: ROOT });
      assert.equal(r.code, 0, `${name} step failed:\n${b}\n${r.stdout}${r.stderr}`);
    }
  }
  const sh = async (script: string) => {
    const r = await host.sh(script, { env, cwd: ROOT });
    assert.equal(r.code, 0, `${script}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  /** curl inside, trusting the test CA only, from CLIENT_IP; prints the status (and the body with `body`). */
  const curl = async (args: string, body = false) =>
    (
      await sh(
        `curl -s --cacert ${dir}/ca.pem --interface ${CLIENT_IP} ${body ? '' : '-o /dev/null'} -w '%{http_code}' ${args}`,
      )
    ).trim();
  const basic = (user: string, password: string) => `-u '${user}:${password}'`;
  /**
   * Many requests in one curl run (`--next`; a sandbox command and a curl start cost ~100 ms each):
   * each one's status and body, in order. Each request's options are given again after `--next`.
   */
  const curlMany = async (all: string[]) => {
    const one = (args: string) =>
      `-s --cacert ${dir}/ca.pem --interface ${CLIENT_IP} -w '\\n%{http_code}\\n@@end@@\\n' ${args}`;
    const out = await sh(`curl ${all.map(one).join(' --next ')}`);
    const chunks = out.split('\n@@end@@\n').slice(0, all.length);
    assert.equal(chunks.length, all.length, out);
    return chunks.map((c) => {
      const at = c.lastIndexOf('\n');
      return { status: c.slice(at + 1), body: c.slice(0, at) };
    });
  };

  before(async () => {
    requireBuild();
    host = await SandboxHost.create();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-fwd-'));
    fs.chmodSync(dir, 0o755);
    env = {
      SESAME_DATA_DIR: path.join(dir, 'data'),
      DATABASE_URL: '',
      SESAME_PUBLIC_URL: 'http://127.0.0.1:8080',
      HOST: '127.0.0.1',
      PORT: '8080',
      SESAME_MODE: 'development',
      SESAME_SMTP_URL: '',
      SESAME_SMS_WEBHOOK_URL: '',
      SESAME_DEV_OUTBOX: path.join(dir, 'outbox.jsonl'),
      // What docs/forward-auth.md section 1 says to set (checked below).
      SESAME_TRUSTED_PROXIES: '127.0.0.1',
      LOG_LEVEL: 'warn',
    };
    assert.match(DOC, /^SESAME_TRUSTED_PROXIES=127\.0\.0\.1$/m);
    // The organization, its users and their app passwords, made with the calls `sesame org add`,
    // `sesame user add`, `sesame user mfa` and `sesame integration add` make (in this process: each
    // CLI run costs seconds), and app passwords with the protocols the organization allowed when
    // each was made (what the user's Security info page does), before the server starts.
    const ctx = await createContext(loadConfig({ ...env }));
    try {
      const org = await ctx.accounts.addOrganization(OPERATOR, 'example.com', 'Example');
      for (const u of [ALICE, BOB]) {
        await ctx.accounts.addUser(OPERATOR, { address: u.address, name: u.name, role: 'user', password: u.password });
        await ctx.mfaAdmin.setUserState(OPERATOR, u.address, 'enforced');
      }
      integrationKey = (await ctx.integrations.add('imap-check')).key;
      for (const [k, who, protocols] of [
        ['aliceDav', ALICE.address, ['dav']],
        ['aliceHttp', ALICE.address, ['http']],
        ['aliceImap', ALICE.address, ['imap']],
        ['bobDav', BOB.address, ['dav']],
      ] as const) {
        const u = (await ctx.accounts.findUserByAddressOrNull(who))!;
        await ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { appPasswords: { protocols: [...protocols] as Protocol[] } });
        const { session } = await ctx.sessions.start(
          u.id,
          ['pwd', 'otp'],
          { ip: '127.0.0.1', userAgent: 't' },
          Date.now(),
        );
        pw[k] = (await ctx.appPasswords.create(u, session, k, { ip: '127.0.0.1', locale: 'en' })).password;
      }
      await ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { appPasswords: { protocols: [...PROTOCOLS] } });
      // An Apple configuration profile for a DAV app password of Alice's (#18, items 2 and 5): the
      // organization's calendar and contacts server is the one behind the proxy, and the one-time
      // link is minted as the page that shows a new app password mints it.
      await ctx.mailSettings.set(OPERATOR, org.id, {
        caldav: { host: 'dav.example.com', port: 443, security: 'tls', path: '/' },
        carddav: { host: 'dav.example.com', port: 443, security: 'tls', path: '/' },
      });
      const alice = (await ctx.accounts.findUserByAddressOrNull(ALICE.address))!;
      await ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { appPasswords: { protocols: ['dav'] } });
      const { session } = await ctx.sessions.start(
        alice.id,
        ['pwd', 'otp'],
        { ip: '127.0.0.1', userAgent: 't' },
        Date.now(),
      );
      const made = await ctx.appPasswords.create(alice, session, 'iPhone', { ip: '127.0.0.1', locale: 'en' });
      await ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { appPasswords: { protocols: [...PROTOCOLS] } });
      profileToken = (await ctx.profileLinks.offer(alice, null, { id: made.appPassword.id, password: made.password }))!
        .token;
    } finally {
      await ctx.close();
    }
    sesame = host.spawn(process.execPath, ['dist/src/main.js'], {
      env,
      cwd: ROOT,
      logFile: path.join(dir, 'sesame.log'),
    });
    // The admin's certificate, where the doc says, from a throwaway CA; the name, in /etc/hosts.
    const ssl = (args: string[]) => run('openssl', args, { cwd: dir });
    await ssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=Sesame forward-auth test CA',
    ]);
    await ssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'dav.key',
      '-out',
      'dav.csr',
      '-subj',
      '/CN=dav.example.com',
    ]);
    fs.writeFileSync(
      path.join(dir, 'ext'),
      'subjectAltName=DNS:dav.example.com\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
    );
    await ssl([
      'x509',
      '-req',
      '-in',
      'dav.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'ext',
      '-out',
      'dav.pem',
    ]);
    host.write(
      '/etc/ssl/certs/dav.example.com.pem',
      fs.readFileSync(path.join(dir, 'dav.pem'), 'utf8') + fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8'),
    );
    host.write('/etc/ssl/private/dav.example.com.key', fs.readFileSync(path.join(dir, 'dav.key')), 0o640);
    await sh('chgrp ssl-cert /etc/ssl/private/dav.example.com.key && echo "127.0.0.1 dav.example.com" >> /etc/hosts');
    fs.writeFileSync(path.join(dir, 'echo.py'), ECHO_PY);
    fs.writeFileSync(path.join(dir, 'dav-client.py'), CALDAV_PY);
    await host.waitForPort(8080, 60_000, 'Sesame').catch((e: Error) => {
      throw new Error(`${e.message}\n${fs.readFileSync(path.join(dir, 'sesame.log'), 'utf8')}`);
    });
    await steps('forward-auth-radicale');
    await host.waitForPort(5232, 60_000, 'Radicale');
  });
  after(async () => {
    await stopProcess(sesame);
    await host?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Alice's sign-in log rows, read from the store (the server writes them in batches: waits for `n`). */
  async function signIns(n: number) {
    const db = new Database(path.join(env.SESAME_DATA_DIR!, 'sesame.db'), { readonly: true, fileMustExist: true });
    try {
      for (let i = 0; ; i++) {
        const rows = db
          .prepare('SELECT protocol, outcome, reason, ip FROM sign_in_events WHERE address_typed = ? ORDER BY id')
          .all(ALICE.address) as { protocol: string; outcome: string; reason: string; ip: string }[];
        if (rows.length >= n || i > 30) return rows;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      db.close();
    }
  }

  /** What a DAV app would do through the proxy now in front of Radicale, and what must fail. */
  async function davThroughProxy(proxy: string, first: boolean) {
    const caldav = async (user: string, password: string, make: boolean) =>
      JSON.parse(
        await sh(
          `/usr/bin/python3 ${dir}/dav-client.py ${SITE}/ '${user}' '${password}' ${dir}/ca.pem ${make ? 'yes' : 'no'}`,
        ),
      ) as { principal: string; calendars: string[]; events: string[] };
    // Alice's DAV app password: a calendar and an event (made the first time), listed.
    const alice = await caldav(ALICE.address, pw.aliceDav, first);
    assert.equal(alice.principal, `${SITE}/alice%40example.com/`, proxy);
    assert.deepEqual(alice.calendars, [`${SITE}/alice%40example.com/work/`], proxy);
    assert.deepEqual(alice.events, ['Stand-up'], proxy);
    if (first) await caldav(BOB.address, pw.bobDav, true);
    // CardDAV with curl: an address book, a contact, listed and read back.
    const ab = `${SITE}/alice@example.com/contacts-${proxy}/`;
    assert.equal(
      await curl(
        `-X MKCOL ${basic(ALICE.address, pw.aliceDav)} -H 'Content-Type: application/xml' --data '<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><C:addressbook/></D:resourcetype><D:displayname>Contacts</D:displayname></D:prop></D:set></D:mkcol>' ${ab}`,
      ),
      '201',
      `${proxy}: MKCOL address book`,
    );
    assert.equal(
      await curl(
        `-X PUT ${basic(ALICE.address, pw.aliceDav)} -H 'Content-Type: text/vcard' --data-binary $'BEGIN:VCARD\\r\\nVERSION:3.0\\r\\nUID:bob-card\\r\\nFN:Bob Example\\r\\nEMAIL:bob@example.com\\r\\nEND:VCARD\\r\\n' ${ab}bob.vcf`,
      ),
      '201',
      `${proxy}: PUT contact`,
    );
    const listing = await curl(`-X PROPFIND -H 'Depth: 1' ${basic(ALICE.address, pw.aliceDav)} ${ab}`, true);
    assert.match(listing, /207$/, `${proxy}: PROPFIND address book`);
    assert.match(listing, /bob\.vcf/);
    assert.match(await curl(`${basic(ALICE.address, pw.aliceDav)} ${ab}bob.vcf`, true), /FN:Bob Example[\s\S]*200$/);
    // Other protocols' app passwords, a wrong one, none: 401 with Sesame's challenge, from the proxy.
    for (const [what, auth] of [
      ['http-only app password', basic(ALICE.address, pw.aliceHttp)],
      ['IMAP-only app password', basic(ALICE.address, pw.aliceImap)],
      ['wrong password', basic(ALICE.address, 'wrong-password-123')],
      ["Bob's password for Alice", basic(ALICE.address, pw.bobDav)],
      ['main password (MFA enforced)', basic(ALICE.address, ALICE.password)],
      ['no password', ''],
    ] as const) {
      const out = await sh(
        `curl -s --cacert ${dir}/ca.pem --interface ${CLIENT_IP} -o /dev/null -D - -X PROPFIND -H 'Depth: 0' ${auth} ${SITE}/alice@example.com/`,
      );
      assert.match(out, /^HTTP\/\S+ 401/, `${proxy}, ${what}: ${out}`);
      assert.match(out, /^www-authenticate: Basic realm="Sesame"/im, `${proxy}, ${what}: the challenge`);
    }
    // Forged identity headers never reach Radicale: Alice gets 403 on Bob's calendar (never 207),
    // and without a password nobody gets past the proxy.
    const bobs = `${SITE}/bob@example.com/work/`;
    assert.equal(
      await curl(`-X PROPFIND -H 'Depth: 1' ${basic(BOB.address, pw.bobDav)} ${bobs}`),
      '207',
      'Bob sees his',
    );
    const forgeries = HEADERS.flatMap((x) => [x.name, underscored(x.name)]);
    const answers = await curlMany(
      forgeries.flatMap((h) => {
        const forged = `-X PROPFIND -H 'Depth: 1' -H '${h}: ${BOB.address}'`;
        return [`${forged} ${basic(ALICE.address, pw.aliceDav)} ${bobs}`, `${forged} ${bobs}`];
      }),
    );
    for (const [i, h] of forgeries.entries()) {
      assert.equal(answers[2 * i]!.status, '403', `${proxy}, ${h}: ${answers[2 * i]!.body}`);
      assert.equal(answers[2 * i + 1]!.status, '401', `${proxy}, ${h} without a password`);
    }
  }

  /** With the header echo where Radicale listens: what the backend gets when every header is forged. */
  async function echoThroughProxy(proxy: string) {
    const log = path.join(dir, 'echo.log');
    const name = encodeURIComponent(ALICE.name);
    const expected: Record<string, string> = {
      'x-remote-user': ALICE.address,
      'remote-user': ALICE.address,
      'remote-email': ALICE.address,
      'remote-name': name,
    };
    const all = HEADERS.flatMap((x) => [x.name, underscored(x.name)]);
    const check = (json: string, what: string) => {
      const got = (JSON.parse(json) as { headers: [string, string][] }).headers;
      for (const [k, v] of got) {
        const lower = k.toLowerCase();
        assert.ok(!lower.includes('_'), `${proxy}, ${what}: ${k} reached the backend`);
        assert.notEqual(lower, 'authorization', `${proxy}, ${what}: the password reached the backend`);
        if (all.some((h) => h.toLowerCase() === lower))
          assert.equal(v, expected[lower], `${proxy}, ${what}: ${k}: ${v} reached the backend`);
      }
      for (const [k, v] of Object.entries(expected))
        assert.deepEqual(
          got.filter(([g]) => g.toLowerCase() === k).map(([, x]) => x),
          [v],
          `${proxy}, ${what}: ${k} once, from Sesame`,
        );
    };
    // One header at a time, then all of them at once.
    const every = all.map((h) => `-H '${h}: ${BOB.address}'`).join(' ');
    const answers = await curlMany([
      ...all.map((h) => `-H '${h}: ${BOB.address}' ${basic(ALICE.address, pw.aliceDav)} ${SITE}/echo`),
      `${every} ${basic(ALICE.address, pw.aliceDav)} ${SITE}/echo`,
    ]);
    for (const [i, a] of answers.entries()) {
      const what = all[i] ?? 'all at once';
      assert.equal(a.status, '200', `${proxy}, ${what}: ${a.body}`);
      check(a.body, what);
    }
    // Without a password (or with a wrong one), forged headers get nowhere near the backend.
    const reached = fs.readFileSync(log, 'utf8').split('\n').length;
    assert.equal(await curl(`${every} ${SITE}/echo`), '401');
    assert.equal(await curl(`${every} ${basic(BOB.address, 'wrong-password-123')} ${SITE}/echo`), '401');
    assert.equal(fs.readFileSync(log, 'utf8').split('\n').length, reached, `${proxy}: the backend saw nothing`);
  }

  /** Radicale stopped, the echo started on its port (inside: the listener of 5232 in this sandbox only). */
  const echoInsteadOfRadicale = () =>
    sh(`systemctl stop radicale
for i in $(seq 50); do ss -ltnH 'sport = :5232' | grep -q . || break; sleep 0.1; done
setsid /usr/bin/python3 ${dir}/echo.py 127.0.0.1 ${dir}/echo.log >${dir}/echo.out 2>&1 </dev/null &
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/5232) 2>/dev/null && exit 0; sleep 0.1; done; exit 1`);
  const radicaleInsteadOfEcho = () =>
    sh(`kill $(ss -ltnpH 'sport = :5232' | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
for i in $(seq 50); do ss -ltnH 'sport = :5232' | grep -q . || break; sleep 0.1; done
systemctl start radicale
for i in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/5232) 2>/dev/null && exit 0; sleep 0.1; done; exit 1`);

  it('through nginx: DAV app passwords work, others and forged identity headers get nowhere; the sign-in log says dav with the client address', async () => {
    await steps('forward-auth-nginx');
    await host.waitForPort(443, 60_000, 'nginx');
    await davThroughProxy('nginx', true);
    // The DAV app password is refused on IMAP and on plain http (Sesame asked directly).
    const mail = (service: string) =>
      curl(
        `-H 'Authorization: Bearer ${integrationKey}' -H 'Content-Type: application/json' --data '{"user":"${ALICE.address}","password":"${pw.aliceDav}","service":"${service}"}' http://127.0.0.1:8080/auth/mail`,
      );
    assert.equal(await mail('imap'), '403', 'DAV-only on IMAP');
    assert.equal(await mail('dav'), '200');
    assert.equal(await curl(`${basic(ALICE.address, pw.aliceDav)} http://127.0.0.1:8080/auth/basic`), '401');
    // The sign-in log: protocol dav, the client's address from nginx's X-Forwarded-For, never a forged one.
    assert.equal(
      await curl(
        `-X PROPFIND -H 'Depth: 0' -H 'X-Forwarded-For: 203.0.113.66' ${basic(ALICE.address, pw.aliceDav)} ${SITE}/alice@example.com/`,
      ),
      '207',
    );
    const rows = await signIns(1);
    const fromClient = (all: typeof rows) =>
      all.filter((r) => r.protocol === 'dav' && r.outcome === 'success' && r.ip === CLIENT_IP);
    davFromClient = fromClient(rows).length;
    assert.ok(davFromClient > 0, JSON.stringify(rows));
    assert.ok(
      rows.every((r) => r.ip !== '203.0.113.66'),
      'a forged X-Forwarded-For is not believed',
    );
    assert.ok(
      rows.some((r) => r.protocol === 'dav' && r.reason === 'protocol_not_allowed' && r.ip === CLIENT_IP),
      'the http-only one, refused on dav',
    );

    await echoInsteadOfRadicale();
    await echoThroughProxy('nginx');
  });

  it('through Caddy: the same, from the doc’s Caddy steps', async () => {
    await sh('systemctl stop nginx');
    await steps('forward-auth-caddy');
    await host.waitForPort(443, 60_000, 'Caddy');
    // The echo still stands where Radicale listens.
    await echoThroughProxy('caddy');
    await radicaleInsteadOfEcho();
    await davThroughProxy('caddy', false);
    assert.equal(
      await curl(
        `-X PROPFIND -H 'Depth: 0' -H 'X-Forwarded-For: 203.0.113.66' ${basic(ALICE.address, pw.aliceDav)} ${SITE}/alice@example.com/`,
      ),
      '207',
    );
    const rows = await signIns(1);
    const now = rows.filter((r) => r.protocol === 'dav' && r.outcome === 'success' && r.ip === CLIENT_IP).length;
    assert.ok(now > davFromClient, `Caddy's X-Forwarded-For believed: ${JSON.stringify(rows)}`);
    assert.ok(
      rows.every((r) => r.ip !== '203.0.113.66'),
      'a forged X-Forwarded-For is not believed',
    );
  });

  it('an Apple configuration profile (#18, items 2 and 5): a device with no session fetches it once; read with plistlib, its CalDAV and CardDAV accounts reach Radicale behind the forward auth with only what it holds', async () => {
    const url = `http://127.0.0.1:8080/apple-profile/${profileToken}/download`;
    const xml = await sh(`curl -s -f ${url}`);
    assert.equal((await sh(`curl -s -o /dev/null -w '%{http_code}' ${url}`)).trim(), '410', 'the link works once');
    const profile = readPlist(xml);
    const content = profile.PayloadContent as Record<string, unknown>[];
    assert.deepEqual(
      content.map((c) => c.PayloadType),
      ['com.apple.caldav.account', 'com.apple.carddav.account'],
      'a DAV-only app password: no mail account',
    );
    const [cal, card] = content as Record<string, string>[];
    assert.equal(cal!.CalDAVPrincipalURL, `${SITE}/`);
    assert.equal(cal!.CalDAVUsername, ALICE.address);
    // python3-caldav, as a calendar app: the profile's URL, user name and app password, nothing else.
    const found = JSON.parse(
      await sh(
        `/usr/bin/python3 ${dir}/dav-client.py '${cal!.CalDAVPrincipalURL}' '${cal!.CalDAVUsername}' '${cal!.CalDAVPassword}' ${dir}/ca.pem no`,
      ),
    ) as { principal: string; calendars: string[] };
    assert.equal(found.principal, `${SITE}/alice%40example.com/`);
    assert.ok(found.calendars.includes(`${SITE}/alice%40example.com/work/`), JSON.stringify(found));
    assert.equal(card!.CardDAVPrincipalURL, `${SITE}/`);
    const listing = await curl(
      `-X PROPFIND -H 'Depth: 1' ${basic(card!.CardDAVUsername!, card!.CardDAVPassword!)} ${card!.CardDAVPrincipalURL}alice@example.com/`,
      true,
    );
    assert.match(listing, /207$/, 'CardDAV with the profile');
    assert.match(listing, /contacts-nginx/, "Alice's address book");
  });

  it("Traefik, by reading: the doc's command writes a file whose stripping middleware covers the list in both spellings and runs before forwardAuth", async () => {
    const blocks = [...DOC.matchAll(/```sh\n(npx sesame integration config traefik-forward-auth[\s\S]*?)\n```/g)];
    assert.equal(blocks.length, 1, 'the doc shows the Traefik command');
    await sh(blocks[0]![1]!);
    const parsed = JSON.parse(
      await sh(
        `/usr/bin/python3 -c 'import json, yaml; print(json.dumps(yaml.safe_load(open("/etc/traefik/dynamic/sesame-forward-auth.yml"))))'`,
      ),
    ) as {
      http: {
        middlewares: Record<
          string,
          {
            headers?: { customRequestHeaders: Record<string, string> };
            forwardAuth?: { address: string; authResponseHeaders: string[]; trustForwardHeader: boolean };
          }
        >;
        routers: Record<string, { middlewares: string[] }>;
      };
    };
    const mw = parsed.http.middlewares;
    const router = parsed.http.routers['sesame-protected']!;
    const strip = router.middlewares.findIndex((m) => mw[m]?.headers?.customRequestHeaders?.['X-Remote-User'] === '');
    const check = router.middlewares.findIndex((m) => mw[m]?.forwardAuth);
    assert.ok(strip >= 0 && check > strip, `strip before forwardAuth: ${router.middlewares.join(', ')}`);
    const stripped = mw[router.middlewares[strip]!]!.headers!.customRequestHeaders;
    for (const h of HEADERS) {
      assert.equal(stripped[h.name], '', `Traefik strips ${h.name}`);
      assert.equal(stripped[underscored(h.name)], '', `Traefik strips ${underscored(h.name)}`);
    }
    const fa = mw[router.middlewares[check]!]!.forwardAuth!;
    assert.equal(fa.address, 'http://sesame:8080/auth/basic?protocol=dav');
    assert.equal(fa.trustForwardHeader, false);
    assert.deepEqual(new Set(fa.authResponseHeaders), new Set(HEADERS.filter((h) => h.set).map((h) => h.name)));
    const after = router.middlewares.slice(check + 1).map((m) => mw[m]?.headers?.customRequestHeaders ?? {});
    assert.ok(
      after.some((h) => h.Authorization === ''),
      'the password dropped after the check',
    );
    assert.ok(
      after.every((h) => HEADERS.filter((x) => x.set).every((x) => !(x.name in h))),
      'nothing after the check removes what Sesame set',
    );
  });

  it("the nginx and Caddy files list every header of the doc's table (what the live checks above exercise)", async () => {
    const snippet = host.read('/etc/nginx/snippets/sesame-forward-auth.conf');
    const location = snippet.slice(snippet.indexOf('location / {'));
    const caddy = host.read('/etc/caddy/sesame-forward-auth.caddy');
    const forwardAuth = caddy.search(/^\s*forward_auth /m);
    assert.match(snippet, /proxy_pass http:\/\/127\.0\.0\.1:8080\/auth\/basic\?protocol=dav;/);
    assert.match(caddy, /uri \/auth\/basic\?protocol=dav$/m);
    assert.ok(caddy.indexOf('request_header -*_*') < forwardAuth);
    for (const h of HEADERS) {
      const re = new RegExp(`^\\s*proxy_set_header ${h.name} ${h.set ? '\\$sesame_\\w+' : '""'};$`, 'm');
      assert.match(location, re, `nginx: ${h.name}`);
      const at = caddy.indexOf(`request_header -${h.name}\n`);
      assert.ok(at >= 0 && at < forwardAuth, `Caddy deletes ${h.name} before forward_auth`);
    }
  });
});
