/**
 * RADIUS through Debian's FreeRADIUS (issue #19, item 3), as docs/radius.md sets it up: a throwaway
 * copy of the stock /etc/freeradius/3.0, the files `sesame integration config freeradius` writes
 * into it (the real CLI, against the running server's store) used as they are, and the CLI's own
 * next steps (the links, and Debian's default site, inner tunnel and eap module taken out). Sesame
 * and FreeRADIUS listen on 127.0.0.1 only, on free ports; clients are FreeRADIUS's radtest and
 * radclient (PAP) and wpa_supplicant's eapol_test (EAP-TTLS with inner PAP, as Wi-Fi devices use it).
 *
 *   - PAP: Alice's `radius` app password is accepted; her IMAP-only one, a wrong password, a revoked
 *     app password, Bob's (disabled) and Alice's main password (MFA enforced) are refused; Dave's
 *     main password (MFA off) is accepted, as on the mail protocols.
 *   - EAP-TTLS/PAP: the radius app password gets EAP-Success, a wrong one EAP-Failure.
 *   - The sign-in log: every attempt with protocol `radius`, the reasons, the client address (a
 *     VPN's IP Calling-Station-Id; a Wi-Fi MAC is not an address: the NAS's is taken).
 *
 * Needs root and the Debian packages scripts/test.sh installs (freeradius, freeradius-rest,
 * freeradius-utils, eapoltest).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
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
import { freeradius } from '../../src/cli/integration-config/targets/freeradius.js';
import {
  freePorts,
  outboxEnv,
  runSesameCli,
  startServer,
  type StartedServer,
  stopProcess,
} from '../support/processes.js';

const run = promisify(execFile);
const SECRET = 'testing123'; // the stock clients.conf's secret for localhost
const ALICE = { address: 'alice@example.com', password: 'harbour-violet-lantern-42' };
const BOB = { address: 'bob@example.com', password: 'meadow-copper-quiet-77' };
const DAVE = { address: 'dave@example.com', password: 'orchard-silver-morning-19' };
const VPN_CLIENT = '192.0.2.55';
/** The device's MAC, as eapol_test's -M takes it; access points send it as AA-BB-CC-DD-EE-FF. */
const MAC = 'aa:bb:cc:dd:ee:ff';

describe('RADIUS: FreeRADIUS with the files `sesame integration config freeradius` writes', () => {
  let dir = '';
  let raddb = '';
  let env: NodeJS.ProcessEnv = {};
  let server: StartedServer | undefined;
  let radiusd: ChildProcess | undefined;
  let radiusOutput = '';
  let authPort = 0;
  const pw = { radius: '', imap: '', revoked: '', bob: '' };

  before(async () => {
    for (const f of [
      '/usr/sbin/freeradius',
      '/usr/lib/freeradius/rlm_rest.so',
      '/usr/bin/radtest',
      '/usr/bin/eapol_test',
    ])
      assert.ok(
        fs.existsSync(f),
        `${f} is missing: apt-get install freeradius freeradius-rest freeradius-utils eapoltest`,
      );
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-radius-'));
    // FreeRADIUS drops to the freerad user: it must reach its configuration folder.
    fs.chmodSync(dir, 0o755);
    const [sesamePort, auth, acct] = await freePorts(3);
    authPort = auth!;
    env = outboxEnv(path.join(dir, 'data'), sesamePort!, path.join(dir, 'outbox.jsonl'));
    const ctx = await createContext(loadConfig({ ...(env as Record<string, string>) }));
    try {
      const org = await ctx.accounts.addOrganization(OPERATOR, 'example.com', 'Example');
      for (const u of [ALICE, BOB, DAVE])
        await ctx.accounts.addUser(OPERATOR, { address: u.address, role: 'user', password: u.password });
      await ctx.mfaAdmin.setUserState(OPERATOR, ALICE.address, 'enforced');
      await ctx.mfaAdmin.setUserState(OPERATOR, BOB.address, 'enforced');
      // An app password gets the protocols the organization allows when it is made (the Security info page).
      const make = async (address: string, name: string, protocols: Protocol[]) => {
        await ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { appPasswords: { protocols } });
        const u = (await ctx.accounts.findUserByAddressOrNull(address))!;
        const { session } = await ctx.sessions.start(
          u.id,
          ['pwd', 'otp'],
          { ip: '127.0.0.1', userAgent: 't' },
          Date.now(),
        );
        return { user: u, made: await ctx.appPasswords.create(u, session, name, { ip: '127.0.0.1', locale: 'en' }) };
      };
      pw.radius = (await make(ALICE.address, 'Laptop Wi-Fi', ['radius'])).made.password;
      pw.imap = (await make(ALICE.address, 'Mail', ['imap'])).made.password;
      const revoked = await make(ALICE.address, 'Old phone', ['radius']);
      pw.revoked = revoked.made.password;
      await ctx.appPasswords.remove(revoked.user, revoked.made.appPassword.id);
      pw.bob = (await make(BOB.address, 'Phone', ['radius'])).made.password;
      await ctx.accounts.disableUser(OPERATOR, BOB.address);
      await ctx.mfaAdmin.setPolicy(OPERATOR, org.id, { appPasswords: { protocols: [...PROTOCOLS] } });
    } finally {
      await ctx.close();
    }
    server = await startServer({ env });

    // The stock configuration, then what the admin runs: the CLI's files and its next steps.
    raddb = path.join(dir, 'raddb');
    await run('cp', ['-a', '/etc/freeradius/3.0', raddb]);
    await runSesameCli(env, [
      'integration',
      'config',
      'freeradius',
      '--out',
      raddb,
      '--url',
      server.base,
      '--listen-address',
      '127.0.0.1',
      '--auth-port',
      String(auth),
      '--acct-port',
      String(acct),
    ]);
    const shell = freeradius.next.filter((l) => /^(ln|rm) /.test(l));
    assert.equal(shell.length, 3, 'the next steps link the files and take out Debian’s default site and eap module');
    for (const l of shell) await run('sh', ['-c', l], { cwd: raddb });
    radiusd = spawn('/usr/sbin/freeradius', ['-X', '-d', raddb], { stdio: ['ignore', 'pipe', 'pipe'] });
    radiusd.stdout!.on('data', (d: Buffer) => (radiusOutput += d.toString()));
    radiusd.stderr!.on('data', (d: Buffer) => (radiusOutput += d.toString()));
    const deadline = Date.now() + 15_000;
    while (!radiusOutput.includes('Ready to process requests')) {
      if (radiusd.exitCode !== null || Date.now() > deadline)
        assert.fail(`FreeRADIUS did not start:\n${radiusOutput.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    await stopProcess(radiusd);
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** radtest's PAP request: true for Access-Accept, false for Access-Reject. */
  async function radtest(user: string, password: string): Promise<boolean> {
    const r = await run('radtest', ['-t', 'pap', user, password, `127.0.0.1:${authPort}`, '0', SECRET]).catch(
      (e: { stdout: string }) => e,
    );
    if (r.stdout.includes('Received Access-Accept')) return true;
    assert.match(r.stdout, /Received Access-Reject/, `${user}: neither accept nor reject:\n${r.stdout}`);
    return false;
  }

  /** eapol_test's EAP-TTLS with inner PAP, checking the server's certificate: true on EAP-Success. */
  async function ttls(user: string, password: string): Promise<boolean> {
    const conf = path.join(dir, `ttls-${Math.random().toString(36).slice(2)}.conf`);
    fs.writeFileSync(
      conf,
      `network={
	ssid="sesame"
	key_mgmt=WPA-EAP
	eap=TTLS
	identity="${user}"
	anonymous_identity="anonymous@example.com"
	password="${password}"
	phase2="auth=PAP"
	ca_cert="/etc/ssl/certs/ssl-cert-snakeoil.pem"
}
`,
    );
    const r = await run('eapol_test', [
      '-c',
      conf,
      '-a',
      '127.0.0.1',
      '-p',
      String(authPort),
      '-s',
      SECRET,
      '-t',
      '10',
      '-M',
      MAC,
    ]).then(
      (x) => ({ ...x, code: 0 }),
      (e: { stdout: string; code: number }) => e,
    );
    const last = r.stdout.trim().split('\n').at(-1);
    assert.ok(last === 'SUCCESS' || last === 'FAILURE', r.stdout.slice(-3000));
    assert.equal(r.code === 0, last === 'SUCCESS');
    return last === 'SUCCESS';
  }

  interface Row {
    protocol: string;
    outcome: string;
    reason: string;
    ip: string;
    user_agent: string;
    attempts: number;
  }

  /** The sign-in rows of an address (the server writes them in batches: waits for `n` attempts in all). */
  async function signIns(address: string, n: number): Promise<Row[]> {
    const db = new Database(path.join(env.SESAME_DATA_DIR!, 'sesame.db'), { readonly: true, fileMustExist: true });
    try {
      for (let i = 0; ; i++) {
        const rows = db
          .prepare(
            'SELECT protocol, outcome, reason, ip, user_agent, attempts FROM sign_in_events WHERE address_typed = ? ORDER BY at, id',
          )
          .all(address) as Row[];
        if (rows.reduce((sum, r) => sum + r.attempts, 0) >= n || i > 50) return rows;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      db.close();
    }
  }

  /**
   * Attempts by protocol, outcome and reason. Identical failures within a window are one row with
   * a count (issue 15, item 4), so attempts are counted, not rows.
   */
  const tally = (rows: Row[]) => {
    const t: Record<string, number> = {};
    for (const r of rows)
      t[`${r.protocol} ${r.outcome} ${r.reason}`] = (t[`${r.protocol} ${r.outcome} ${r.reason}`] ?? 0) + r.attempts;
    return t;
  };

  it('PAP: a radius app password is accepted; IMAP-only, wrong, revoked, disabled and the MFA-enforced main password are not', async () => {
    assert.equal(await radtest(ALICE.address, pw.radius), true, 'the radius app password');
    assert.equal(await radtest(ALICE.address, pw.imap), false, 'an IMAP-only app password');
    assert.equal(await radtest(ALICE.address, 'not-the-password'), false, 'a wrong password');
    assert.equal(await radtest(ALICE.address, pw.revoked), false, 'a revoked app password');
    assert.equal(await radtest(BOB.address, pw.bob), false, 'a disabled user');
    assert.equal(await radtest(ALICE.address, ALICE.password), false, 'the main password, MFA enforced');
    assert.equal(await radtest(DAVE.address, DAVE.password), true, 'the main password, MFA off');
    const rows = await signIns(ALICE.address, 5);
    assert.deepEqual(
      tally(rows),
      {
        'radius success ok': 1,
        'radius failure protocol_not_allowed': 1,
        // A revoked app password is no longer one: it is checked (and refused) as a main password.
        'radius failure wrong_password': 2,
        'radius failure main_password_refused': 1,
      },
      JSON.stringify(rows),
    );
    // radtest sends its own address as NAS-IP-Address and no Calling-Station-Id.
    assert.ok(
      rows.every((r) => r.ip === '127.0.0.1' && r.user_agent.startsWith('RADIUS')),
      JSON.stringify(rows),
    );
    assert.deepEqual(tally(await signIns(BOB.address, 1)), { 'radius failure user_disabled': 1 });
  });

  it("PAP from a VPN gateway: the client's IP in Calling-Station-Id is the one logged", async () => {
    const { stdout } = await run('sh', [
      '-c',
      `printf 'User-Name = "%s"\\nUser-Password = "%s"\\nNAS-IP-Address = 127.0.0.1\\nCalling-Station-Id = "${VPN_CLIENT}"\\n' '${DAVE.address}' '${DAVE.password}' | radclient -x 127.0.0.1:${authPort} auth ${SECRET}`,
    ]);
    assert.match(stdout, /Received Access-Accept/);
    const rows = await signIns(DAVE.address, 2);
    assert.deepEqual(
      rows.map((r) => [r.protocol, r.outcome, r.ip]),
      [
        ['radius', 'success', '127.0.0.1'],
        ['radius', 'success', VPN_CLIENT],
      ],
    );
  });

  it('EAP-TTLS with inner PAP (Wi-Fi): the radius app password gets EAP-Success, a wrong one EAP-Failure', async () => {
    const earlier = await signIns(ALICE.address, 5);
    const before = tally(earlier);
    assert.equal(await ttls(ALICE.address, pw.radius), true);
    // Another wrong password than before: the same one again is not counted (repeated_wrong_password).
    assert.equal(await ttls(ALICE.address, 'another-wrong-password'), false);
    const rows = await signIns(ALICE.address, 7);
    const now = tally(rows);
    assert.equal(now['radius success ok'], (before['radius success ok'] ?? 0) + 1, JSON.stringify(rows));
    assert.equal(now['radius failure wrong_password'], (before['radius failure wrong_password'] ?? 0) + 1);
    const fresh = rows.filter((r) => r.user_agent.includes('station'));
    assert.ok(fresh.length >= 1, JSON.stringify(rows));
    // The device's MAC is shown, never taken as its address: the access point's is.
    for (const r of fresh) {
      assert.equal(r.ip, '127.0.0.1');
      assert.match(r.user_agent, new RegExp(`station ${MAC.replace(/:/g, '-')}`, 'i'));
    }
  });
});
