/**
 * docs/ldap-devices.md as an admin follows it (issue #19, item 6): its `printer` and `nas` blocks
 * run as they are, in a throwaway copy of this host (test/support/sandbox-host.ts: /etc, /var and
 * /run overlays, a network of its own) in which Sesame listens for LDAPS on 636 under the doc's name
 * `sesame.contoso.test`, with a certificate from a throwaway CA added to the host's CA bundle (as a
 * public CA's already is).
 *
 *   - The printer's address-book search (ldapsearch, a service bind made by `integration add`)
 *     finds Ann by the start of her name.
 *   - nslcd (Debian's, with libnss-ldapd) makes the directory's users and groups the host's:
 *     `getent passwd`, `getent group` and `id` show Ann, the group Staff and their numbers
 *     (posixAccount, posixGroup); a disabled user is gone, a member removed from the group leaves
 *     it, and the numbers stay the same after a restart of nslcd and a rename of the group.
 *
 * Needs root, util-linux and the Debian packages scripts/test.sh installs (nslcd, libnss-ldapd,
 * ldap-utils, openssl).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AppContext, createContext } from '../../src/app/context.js';
import { loadConfig } from '../../src/config/config.js';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import { makeCertificates } from '../support/ldap-clients.js';
import { requireBuild, ROOT } from '../support/processes.js';
import { docSteps, SandboxHost } from '../support/sandbox-host.js';

const DOC = path.join(ROOT, 'docs/ldap-devices.md');
const HOST = 'sesame.contoso.test';
const ORG = 'contoso.test';

describe('docs/ldap-devices.md: a printer address book and a host with nslcd, in a stock sandbox', () => {
  let host: SandboxHost | undefined;
  let dataDir = '';
  let logFile = '';
  let ctx: AppContext | undefined;
  let orgId = '';
  let staffId = '';
  let env: Record<string, string> = {};

  const sh = (script: string) => host!.sh(script, { env, cwd: ROOT, timeoutMs: 60_000 });
  async function doc(name: string) {
    const steps = docSteps(fs.readFileSync(DOC, 'utf8'), name);
    assert.ok(steps.length > 0, `docs/ldap-devices.md has no <!-- test: ${name} --> steps`);
    const out: string[] = [];
    for (const step of steps) {
      const r = await sh(step);
      assert.equal(
        r.code,
        0,
        `doc step failed:\n${step}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n--- sesame\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`,
      );
      out.push(r.stdout);
    }
    return out;
  }

  before(async () => {
    requireBuild();
    for (const f of ['/usr/sbin/nslcd', '/lib/x86_64-linux-gnu/libnss_ldap.so.2', '/usr/bin/ldapsearch'])
      assert.ok(fs.existsSync(f), `${f} is missing: apt-get install nslcd libnss-ldapd ldap-utils`);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-ldap-devices-'));
    logFile = path.join(dataDir, 'sesame.log');
    const tls = path.join(dataDir, 'tls');
    fs.mkdirSync(tls);
    const certs = await makeCertificates(tls, HOST);

    env = {
      SESAME_DATA_DIR: dataDir,
      DATABASE_URL: '',
      HOST: '127.0.0.1',
      PORT: '8080',
      SESAME_PUBLIC_URL: `https://${HOST}`,
      SESAME_MODE: 'development',
      SESAME_SMTP_URL: '',
      SESAME_SMS_WEBHOOK_URL: '',
      SESAME_DEV_OUTBOX: path.join(dataDir, 'outbox.jsonl'),
      LOG_LEVEL: 'warn',
      SESAME_LDAPS_PORT: '636',
      SESAME_LDAP_TLS_CERT_FILE: certs.cert,
      SESAME_LDAP_TLS_KEY_FILE: certs.key,
      npm_config_update_notifier: 'false',
    };
    // The organization, its people and the group, through the services (one process, not a CLI run each).
    ctx = await createContext(loadConfig({ ...process.env, ...env }));
    const org = await ctx.accounts.addOrganization(OPERATOR, ORG, 'Contoso');
    orgId = org.id;
    for (const [address, name] of [
      ['ann@contoso.test', 'Ann Lee'],
      ['bob@contoso.test', 'Bob Stone'],
      ['cem@contoso.test', 'Cem Kaya'],
    ] as const)
      await ctx.accounts.addUser(OPERATOR, { address, name, role: 'user' });
    const staff = await ctx.groups.create(OPERATOR, orgId, 'Staff');
    staffId = staff.id;
    await ctx.groups.addMember(OPERATOR, orgId, staffId, 'ann@contoso.test');
    await ctx.groups.addMember(OPERATOR, orgId, staffId, 'cem@contoso.test');

    host = await SandboxHost.create();
    const ca = fs.readFileSync(certs.ca, 'utf8');
    host.write('/etc/ssl/certs/ca-certificates.crt', `${host.read('/etc/ssl/certs/ca-certificates.crt')}${ca}`);
    host.write('/etc/hosts', `${host.read('/etc/hosts')}\n127.0.0.1 ${HOST}\n`);
    host.spawn('node', ['dist/src/main.js'], { env, cwd: ROOT, logFile });
    await host.waitForPort(636, 60_000, 'Sesame (LDAPS)').catch((e: Error) => {
      throw new Error(`${e.message}\n--- sesame\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
    });
  });

  after(async () => {
    await ctx?.close();
    await host?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("the printer's address-book search finds Ann by the start of her name", async () => {
    const [out] = await doc('printer');
    assert.match(out!, /^dn: uid=ann,ou=people,dc=contoso,dc=test$/m);
    assert.match(out!, /^mail: ann@contoso\.test$/m);
    assert.match(out!, /^cn: Ann Lee$/m);
    assert.doesNotMatch(out!, /bob@/, 'only who matches');
  });

  it("nslcd makes Sesame's users and groups the host's, with their numbers", async () => {
    const outs = await doc('nas');
    const checks = outs.at(-1)!;
    const passwd = /^ann:[^:]*:(\d+):(\d+):Ann Lee:\/home\/ann:/m.exec(checks);
    assert.ok(passwd, `getent passwd ann:\n${checks}`);
    const uid = Number(passwd[1]);
    assert.ok(uid >= 100_001, `uidNumber ${uid} is in Sesame's range`);
    assert.equal(Number(passwd[2]), uid, 'gidNumber: a private group of the same number');
    const group = /^Staff:[^:]*:(\d+):(.*)$/m.exec(checks);
    assert.ok(group, `getent group Staff:\n${checks}`);
    const gid = Number(group[1]);
    assert.ok(gid >= 100_001 && gid !== uid);
    assert.deepEqual(group[2]!.split(',').sort(), ['ann', 'cem']);
    assert.match(checks, new RegExp(`^uid=${uid}\\(ann\\) gid=${uid} groups=.*${gid}\\(Staff\\)`, 'm'));

    // Bob is disabled: gone from the host's users at once. Cem leaves Staff: gone from the group.
    await ctx!.accounts.disableUser(OPERATOR, 'bob@contoso.test');
    await ctx!.groups.removeMember(OPERATOR, orgId, staffId, 'cem@contoso.test');
    const bob = await sh('getent passwd bob || echo "no bob: $?"');
    assert.match(bob.stdout, /^no bob: 2$/m, 'getent exits 2: not found');
    const staff = await sh('getent group Staff');
    assert.match(staff.stdout, new RegExp(`^Staff:[^:]*:${gid}:ann$`, 'm'));

    // The numbers stay: after nslcd restarts, and when the group is renamed.
    await ctx!.groups.update(OPERATOR, orgId, staffId, 'Team', '');
    const again = await sh('systemctl restart nslcd; sleep 0.5; getent passwd ann; getent group Team');
    assert.match(again.stdout, new RegExp(`^ann:[^:]*:${uid}:${uid}:`, 'm'), again.stdout + again.stderr);
    assert.match(again.stdout, new RegExp(`^Team:[^:]*:${gid}:ann$`, 'm'), again.stdout + again.stderr);
  });
});
