/**
 * The `sesame` command against SQLite and PostgreSQL: its commands, wrong usage (one line, exit 2)
 * and refusals that change nothing. What needs the process itself (bin/sesame.js in a child: the
 * first migration, standard input, exit codes and stderr for wrong usage and bad configuration)
 * runs it for real; the rest runs the same entry point, src/cli/main.ts's runCli, in this process
 * (a child costs most of a second of CPU to start, and this file runs some fifty commands).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createContext } from '../../src/app/context.js';
import { runCli } from '../../src/cli/main.js';
import { makeTestStore, STORE_KINDS, type TestStore } from '../support/stores.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = path.join(ROOT, 'bin/sesame.js');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** `sesame ...` in this process: runCli with the same environment, its lines captured as a child's would be. */
async function sesame(store: TestStore, args: string[], stdin?: string): Promise<Run> {
  let out = '';
  let err = '';
  const code = await runCli(args, {
    out: (s) => (out += `${s}\n`),
    err: (s) => (err += `${s}\n`),
    write: (s) => (out += s),
    progress: { write: (s) => (err += s), isTTY: false },
    readStdin: async () => stdin ?? '',
    env: {
      ...process.env,
      SESAME_DATA_DIR: store.dataDir,
      DATABASE_URL: store.databaseUrl,
      LOG_LEVEL: 'silent',
      SESAME_PUBLIC_URL: 'https://id.contoso.test',
    },
  });
  return { code, out, err };
}

/** `sesame ...` as a child process (bin/sesame.js), for what only a process shows. */
function sesameProcess(store: TestStore, args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: {
        ...process.env,
        SESAME_DATA_DIR: store.dataDir,
        DATABASE_URL: store.databaseUrl,
        LOG_LEVEL: 'silent',
        SESAME_PUBLIC_URL: 'https://id.contoso.test',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
    child.stdin.end(stdin ?? '');
  });
}

for (const kind of STORE_KINDS) {
  describe(`sesame CLI on ${kind}`, () => {
    let store: TestStore;
    before(async () => {
      store = await makeTestStore(kind);
    });
    after(async () => store.dispose());

    const count = async () => {
      const ctx = await createContext(store.config());
      try {
        const orgs = await ctx.store.db
          .selectFrom('organizations')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        return { orgs: Number(orgs.n), users: await ctx.accounts.countUsers() };
      } finally {
        await ctx.close();
      }
    };

    it('migrates an empty store, then says it is up to date', async () => {
      const first = await sesameProcess(store, ['migrate']);
      assert.equal(first.code, 0, first.err);
      assert.match(first.out, /applied: 2026-11-27-01-accounts, 2026-11-27-02-sign-in/);
      const again = await sesame(store, ['migrate']);
      assert.equal(again.out.trim(), 'schema is up to date');
    });

    it('adds an organization and a first admin with a one-time set-password link', async () => {
      const org = await sesame(store, ['org', 'add', 'contoso.test', '--name', 'Contoso Ltd']);
      assert.equal(org.code, 0, org.err);
      assert.equal(org.out.trim(), 'organization contoso.test ("Contoso Ltd") added');
      const admin = await sesame(store, ['user', 'add', 'ada@contoso.test', '--name', 'Ada Admin', '--admin']);
      assert.equal(admin.code, 0, admin.err);
      assert.match(admin.out, /^user ada@contoso\.test added as admin\n/);
      const link = /^(https:\/\/id\.contoso\.test\/set-password\?token=[A-Za-z0-9_-]{43})$/m.exec(admin.out)?.[1];
      assert.ok(link, admin.out);
      const ctx = await createContext(store.config());
      try {
        const user = await ctx.accounts.peekSetPasswordToken(new URL(link).searchParams.get('token')!);
        assert.equal(user.role, 'admin');
        assert.equal(user.name, 'Ada Admin');
      } finally {
        await ctx.close();
      }
    });

    it('takes a password on standard input, and the user can sign in with it', async () => {
      const r = await sesameProcess(
        store,
        ['user', 'add', 'bob@contoso.test', '--password-stdin'],
        'quiet-meadow-copper-77\n',
      );
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out.trim(), 'user bob@contoso.test added');
      assert.doesNotMatch(r.out + r.err, /quiet-meadow/);
      const ctx = await createContext(store.config());
      try {
        const u = await ctx.signIn.authenticate('bob@contoso.test', 'quiet-meadow-copper-77', {
          ip: '127.0.0.1',
          userAgent: 'cli-test',
          protocol: 'web',
        });
        assert.equal(u.address, 'bob@contoso.test');
      } finally {
        await ctx.close();
      }
    });

    it('disables and enables a user', async () => {
      const d = await sesame(store, ['user', 'disable', 'BOB@contoso.test']);
      assert.equal(d.code, 0, d.err);
      assert.match(d.out, /user bob@contoso\.test disabled/);
      const e = await sesame(store, ['user', 'enable', 'bob@contoso.test']);
      assert.equal(e.code, 0, e.err);
      assert.match(e.out, /user bob@contoso\.test enabled/);
    });

    it('sets MFA per user and the organization policy', async () => {
      const set = await sesame(store, ['user', 'mfa', 'bob@contoso.test', 'enforced']);
      assert.equal(set.code, 0, set.err);
      assert.equal(set.out.trim(), 'MFA for bob@contoso.test is now enforced');
      const bad = await sesame(store, ['user', 'mfa', 'bob@contoso.test', 'sometimes']);
      assert.equal(bad.code, 1);
      const rr = await sesame(store, ['user', 'reregister', 'bob@contoso.test']);
      assert.equal(rr.code, 0, rr.err);
      assert.match(rr.out, /must register MFA again/);
      const shown = await sesame(store, ['org', 'policy', 'contoso.test']);
      assert.equal(
        shown.out.split('\n')[0],
        'organization contoso.test: mfa-default=disabled methods=totp,webauthn,sms,voice,email remember-days=0 legacy-main-password=until_enforced',
      );
      assert.equal(
        shown.out.split('\n')[1],
        'app passwords: on keep-when-off=on cap=40 protocols=imap,pop3,smtp,dav,http max-days=never unused-days=never revoke-on-password-change=on notify-admins-new-country=off',
      );
      const changed = await sesame(store, [
        'org',
        'policy',
        'contoso.test',
        '--mfa-default',
        'enabled',
        '--methods',
        'totp,email',
        '--remember-days',
        '30',
        '--time-zone',
        'europe/amsterdam',
        '--default-country',
        'nl',
      ]);
      assert.equal(changed.code, 0, changed.err);
      assert.equal(
        changed.out.split('\n')[0],
        'organization contoso.test: mfa-default=enabled methods=totp,email remember-days=30 legacy-main-password=until_enforced',
      );
      assert.equal(
        changed.out.split('\n')[2],
        'phone-countries=default time-zone=Europe/Amsterdam default-country=NL',
        'the regional settings, in their canonical spelling',
      );
      const zone = await sesame(store, ['org', 'policy', 'contoso.test', '--time-zone', 'Mars/Olympus_Mons']);
      assert.equal(zone.code, 1);
      assert.match(zone.err, /policy setting is not valid|unknown time zone/);
      const ap = await sesame(store, [
        'org',
        'policy',
        'contoso.test',
        '--app-passwords',
        'off',
        '--app-password-cap',
        '5',
        '--app-password-protocols',
        'imap,smtp',
        '--app-password-max-days',
        '365',
        '--revoke-on-password-change',
        'off',
        '--notify-admins-new-country',
        'on',
      ]);
      assert.equal(ap.code, 0, ap.err);
      assert.equal(
        ap.out.split('\n')[1],
        'app passwords: off keep-when-off=on cap=5 protocols=imap,smtp max-days=365 unused-days=never revoke-on-password-change=off notify-admins-new-country=on',
      );
      assert.equal(
        (await sesame(store, ['org', 'policy', 'contoso.test', '--notify-admins-new-country', 'yes'])).code,
        2,
      );
      assert.equal((await sesame(store, ['org', 'policy', 'contoso.test', '--app-passwords', 'maybe'])).code, 2);
      assert.equal((await sesame(store, ['org', 'policy', 'contoso.test', '--app-password-protocols', 'ftp'])).code, 1);
      await sesame(store, [
        'org',
        'policy',
        'contoso.test',
        '--app-passwords',
        'on',
        '--app-password-cap',
        '40',
        '--app-password-protocols',
        'imap,pop3,smtp,dav,http',
        '--app-password-max-days',
        'never',
        '--revoke-on-password-change',
        'on',
        '--notify-admins-new-country',
        'off',
      ]);
      const tooLong = await sesame(store, ['org', 'policy', 'contoso.test', '--remember-days', '366']);
      assert.equal(tooLong.code, 1);
      assert.match(tooLong.err, /policy setting is not valid/);
      assert.equal((await sesame(store, ['org', 'policy', 'contoso.test', '--remember-days', 'soon'])).code, 2);
      const ctx = await createContext(store.config());
      try {
        const state = await ctx.store.db
          .selectFrom('users')
          .select(['mfa_state'])
          .where('address', '=', 'bob@contoso.test')
          .executeTakeFirstOrThrow();
        assert.equal(state.mfa_state, 'enabled', 're-registration puts the user back to enabled');
        const carol = await ctx.accounts.addUser({ kind: 'operator' }, { address: 'carol@contoso.test' });
        assert.equal(carol.mfaState, 'enabled', 'new users start in the organization default');
        await ctx.mfaAdmin.setPolicy({ kind: 'operator' }, carol.orgId, {
          mfaDefault: 'disabled',
          rememberDays: 0,
          allowedMethods: ['totp', 'webauthn', 'sms', 'voice', 'email'],
        });
        await ctx.store.db.deleteFrom('users').where('address', '=', 'carol@contoso.test').execute();
      } finally {
        await ctx.close();
      }
    });

    it('sets, checks and removes the mail settings: sesame org mail-settings', async () => {
      // A port nothing listens on: the check must say so and exit 1.
      const closed = await new Promise<number>((resolve) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = s.address() as net.AddressInfo;
          s.close(() => resolve(port));
        });
      });
      const set = await sesame(store, [
        'org',
        'mail-settings',
        'contoso.test',
        '--imap',
        `127.0.0.1:${closed}:tls`,
        '--smtp',
        'smtp.contoso.test',
        '--caldav',
        'https://dav.contoso.test/dav/',
        '--user-name',
        'localpart',
        '--check',
      ]);
      assert.equal(set.code, 1, set.err);
      assert.deepEqual(set.out.trim().split('\n').slice(0, 6), [
        'organization contoso.test: user-name=localpart',
        `imap: 127.0.0.1:${closed} tls`,
        'pop3: not offered',
        'smtp: smtp.contoso.test:587 starttls',
        'caldav: https://dav.contoso.test:443/dav/',
        'carddav: not offered',
      ]);
      assert.match(set.out, new RegExp(`^check imap 127.0.0.1:${closed} tls: failed at connect: ECONNREFUSED$`, 'm'));
      assert.match(set.out, /^check smtp smtp.contoso.test:587 starttls: failed at connect: /m);

      const bad = await sesame(store, ['org', 'mail-settings', 'contoso.test', '--pop3', 'pop.contoso.test:99999']);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /The POP3 port must be a whole number from 1 to 65535\. \(mail_port_invalid\)/);
      const usage = await sesame(store, [
        'org',
        'mail-settings',
        'contoso.test',
        '--carddav',
        'http://dav.contoso.test/',
      ]);
      assert.equal(usage.code, 2);
      assert.match(usage.err, /--carddav takes an https:\/\/ URL/);

      const ctx = await createContext(store.config());
      try {
        const org = await ctx.accounts.organizationByDomain('contoso.test');
        const s = await ctx.mailSettings.get({ kind: 'operator' }, org.id);
        assert.deepEqual(Object.keys(s!.servers), ['imap', 'smtp', 'caldav'], 'the refusals changed nothing');
        const audit = await ctx.audit.listAudit(org.id, 50);
        assert.ok(audit.some((e) => e.action === 'org.mail_settings' && e.actorLabel === 'operator (CLI)'));
      } finally {
        await ctx.close();
      }
      const cleared = await sesame(store, ['org', 'mail-settings', 'contoso.test', '--clear']);
      assert.equal(cleared.code, 0, cleared.err);
      assert.equal(cleared.out.trim(), 'organization contoso.test: mail settings removed');
    });

    it('gives an existing user a new set-password link, which works while the account is locked and lifts the lock', async () => {
      const add = await sesame(
        store,
        ['user', 'add', 'lou@contoso.test', '--password-stdin'],
        'first-walnut-sonnet-44\n',
      );
      assert.equal(add.code, 0, add.err);
      const ctx = await createContext(store.config());
      try {
        const meta = { ip: '192.0.2.77', userAgent: 'cli-test', protocol: 'web' };
        for (let i = 0; i < ctx.config.accountFailureLimit; i++)
          await assert.rejects(ctx.signIn.authenticate('lou@contoso.test', `guess-${i}-walnut`, meta), {
            code: 'sign_in_failed',
          });
        await assert.rejects(ctx.signIn.authenticate('lou@contoso.test', 'first-walnut-sonnet-44', meta), {
          code: 'throttled',
        });
        const r = await sesame(store, ['user', 'link', 'LOU@contoso.test']);
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, /^one-time set-password link for lou@contoso\.test \(valid until .* UTC\):\n/);
        const link = /^(https:\/\/id\.contoso\.test\/set-password\?token=[A-Za-z0-9_-]{43})$/m.exec(r.out)?.[1];
        assert.ok(link, r.out);
        await ctx.accounts.setPasswordWithToken(new URL(link).searchParams.get('token')!, 'second-walnut-sonnet-55');
        assert.equal(
          (await ctx.signIn.authenticate('lou@contoso.test', 'second-walnut-sonnet-55', meta)).address,
          'lou@contoso.test',
          'signed in at once',
        );
      } finally {
        await ctx.close();
      }
      const unknown = await sesame(store, ['user', 'link', 'nobody@contoso.test']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.err, /no user nobody@contoso\.test/);
    });

    it('shows and lifts locks: sesame locks show, lift and lift-ip', async () => {
      const add = await sesame(
        store,
        ['user', 'add', 'mia@contoso.test', '--password-stdin'],
        'amber-quill-harbor-31\n',
      );
      assert.equal(add.code, 0, add.err);
      const show = async () => {
        const r = await sesame(store, ['locks', 'show', 'MIA@contoso.test']);
        assert.equal(r.code, 0, r.err);
        return r.out.trim().split('\n');
      };
      assert.deepEqual(await show(), [
        'main password from familiar networks: not locked',
        'main password from elsewhere: not locked',
        'second step: not locked',
      ]);
      const audits = async (action: string, detail: string) => {
        const ctx = await createContext(store.config());
        try {
          return (
            await ctx.store.db
              .selectFrom('audit_events')
              .select(['actor_label', 'detail'])
              .where('action', '=', action)
              .execute()
          ).filter((r) => r.detail.includes(detail));
        } finally {
          await ctx.close();
        }
      };

      // The main password, locked from an unfamiliar place by wrong guesses (the browser's path;
      // the mail endpoints share the counter).
      const away = { ip: '192.0.2.88', userAgent: 'cli-test', protocol: 'web' };
      let ctx = await createContext(store.config());
      try {
        for (let i = 0; i < ctx.config.accountFailureLimit; i++)
          await assert.rejects(ctx.signIn.authenticate('mia@contoso.test', `guess-${i}-quill`, away), {
            code: 'sign_in_failed',
          });
        await assert.rejects(ctx.signIn.authenticate('mia@contoso.test', 'amber-quill-harbor-31', away), {
          code: 'throttled',
        });
      } finally {
        await ctx.close();
      }
      const locked = await show();
      assert.equal(locked[0], 'main password from familiar networks: not locked');
      assert.match(locked[1]!, /^main password from elsewhere: locked for \d+ s$/);
      assert.equal(locked[2], 'second step: not locked');
      const lift = await sesame(store, ['locks', 'lift', 'MIA@contoso.test']);
      assert.equal(lift.code, 0, lift.err);
      assert.equal(lift.out.trim(), 'sign-in locks of mia@contoso.test lifted');
      assert.deepEqual(await show(), [
        'main password from familiar networks: not locked',
        'main password from elsewhere: not locked',
        'second step: not locked',
      ]);
      ctx = await createContext(store.config());
      try {
        assert.equal(
          (await ctx.signIn.authenticate('mia@contoso.test', 'amber-quill-harbor-31', away)).address,
          'mia@contoso.test',
          'the right password signs in again, from the same place',
        );
      } finally {
        await ctx.close();
      }
      assert.equal((await audits('user.locks_lifted', 'mia@contoso.test')).length, 1);

      // A client IP, locked on the browser's path and on the mail endpoints by a spray across
      // accounts (a low IP limit for this context; lifting needs no limit).
      const sprayer = '198.51.100.9';
      const from = { ip: sprayer, userAgent: 'cli-test', protocol: 'web' };
      ctx = await createContext(store.config({ ipFailureLimit: 3 }));
      try {
        for (let i = 0; i < 3; i++) {
          await assert.rejects(ctx.signIn.authenticate(`user${i}@contoso.test`, 'Spring2026!x', from), {
            code: 'sign_in_failed',
          });
          const mail = await ctx.legacy.verify({
            user: `user${i}@contoso.test`,
            password: 'Spring2026!x',
            protocol: 'imap',
            ip: sprayer,
          });
          assert.equal(mail.reason, 'unknown_user');
        }
        await assert.rejects(ctx.signIn.authenticate('mia@contoso.test', 'amber-quill-harbor-31', from), {
          code: 'throttled',
        });
        const mailLocked = await ctx.legacy.verify({
          user: 'mia@contoso.test',
          password: 'amber-quill-harbor-31',
          protocol: 'imap',
          ip: sprayer,
        });
        assert.equal(mailLocked.reason, 'ip_locked');
        const liftIp = await sesame(store, ['locks', 'lift-ip', ` ${sprayer} `]);
        assert.equal(liftIp.code, 0, liftIp.err);
        assert.equal(liftIp.out.trim(), `locks of ${sprayer} lifted`);
        assert.equal(
          (await ctx.signIn.authenticate('mia@contoso.test', 'amber-quill-harbor-31', from)).address,
          'mia@contoso.test',
          "the IP's browser lock is lifted",
        );
        const mailFree = await ctx.legacy.verify({
          user: 'mia@contoso.test',
          password: 'amber-quill-harbor-31',
          protocol: 'imap',
          ip: sprayer,
        });
        assert.equal(mailFree.outcome, 'ok', `the IP's mail lock is lifted: ${mailFree.reason}`);
      } finally {
        await ctx.close();
      }
      const ipAudit = await audits('ip.locks_lifted', sprayer);
      assert.equal(ipAudit.length, 1);

      // Wrong usage: one line, exit 2; an unknown address: exit 1.
      for (const args of [
        ['locks'],
        ['locks', 'show'],
        ['locks', 'lift'],
        ['locks', 'lift-ip'],
        ['locks', 'open', 'x'],
      ]) {
        const r = await sesame(store, args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
        assert.equal(r.out, '');
        assert.equal(r.err.trim().split('\n').length, 1, `one line for: ${args.join(' ')}`);
        assert.match(r.err, /^sesame: /);
      }
      const unknown = await sesame(store, ['locks', 'lift', 'nobody@contoso.test']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.err, /no user nobody@contoso\.test/);
    });

    it('refuses bad or conflicting input with a reason and exit 1, changing nothing', async () => {
      const before = await count();
      const cases: [string[], RegExp, string?][] = [
        [['org', 'add', 'contoso.test'], /already exists/],
        [['org', 'add', 'not a domain'], /mail domain/],
        [['user', 'add', 'ada@contoso.test'], /already exists/],
        [['user', 'add', 'x@unknown.test'], /no organization for unknown\.test/],
        [['user', 'add', 'weak@contoso.test', '--password-stdin'], /too common/, 'password\n'],
        [['user', 'add', 'short@contoso.test', '--password-stdin'], /at least 8/, 'abc\n'],
        [['user', 'disable', 'nobody@contoso.test'], /no user nobody@contoso\.test/],
      ];
      for (const [args, re, stdin] of cases) {
        const r = await sesame(store, args, stdin);
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.err}`);
        assert.match(r.err, re);
      }
      assert.deepEqual(await count(), before);
    });
  });
}

/**
 * What the CLI refuses before it opens a store (usage, configuration) is the same code whatever the
 * store: checked once, on the first store kind, rather than once per store.
 */
describe('sesame CLI: wrong usage and bad configuration (before any store is opened)', () => {
  let store: TestStore;
  before(async () => {
    store = await makeTestStore(STORE_KINDS[0]!);
  });
  after(async () => store.dispose());

  const count = async () => {
    const ctx = await createContext(store.config());
    try {
      return { users: await ctx.accounts.countUsers() };
    } finally {
      await ctx.close();
    }
  };

  it('prints one clear line and exits 2 on wrong usage, changing nothing', async () => {
    const before = await count();
    for (const args of [
      [],
      ['frobnicate'],
      ['user'],
      ['user', 'add'],
      ['user', 'add', 'x@contoso.test', '--bogus'],
      ['org', 'add', 'a.test', 'b.test'],
      ['user', 'disable'],
    ]) {
      const r = await sesameProcess(store, args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.equal(r.out, '');
      assert.equal(r.err.trim().split('\n').length, 1, `one line for: ${args.join(' ')}`);
      assert.match(r.err, /^sesame: /);
    }
    assert.deepEqual(await count(), before);
  });

  it('reports bad configuration and exits 2', async () => {
    const r = await new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'migrate'], {
        cwd: ROOT,
        env: { ...process.env, PORT: 'eighty', DATABASE_URL: 'mysql://x' },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => resolve({ code, out, err }));
    });
    assert.equal(r.code, 2);
    assert.match(r.err, /PORT/);
    assert.match(r.err, /DATABASE_URL/);
  });
});
