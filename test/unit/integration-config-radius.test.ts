/**
 * `sesame integration config freeradius` (issue #19, item 3): what it renders, in the shape
 * test/e2e/integrations-radius.test.ts proves on Debian's FreeRADIUS (which uses the CLI's own
 * output). Here, without servers: the files and their modes, the key only in policy.d/sesame, the
 * URL and settings filled in, only EAP-TTLS with inner PAP offered, and the flags' checks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configTarget } from '../../src/cli/integration-config/index.js';
import { renderTarget } from '../../src/cli/integration-config/model.js';
import { freeradius } from '../../src/cli/integration-config/targets/freeradius.js';

const KEY = 'sesame_int_unit_test_key';

describe('integration config: freeradius', () => {
  const files = new Map(
    renderTarget(freeradius, {
      sesameUrl: 'https://sesame.example.com',
      key: KEY,
      values: {
        LISTEN_ADDRESS: '127.0.0.1',
        AUTH_PORT: '21812',
        ACCT_PORT: '21813',
        TLS_CERTIFICATE: '/etc/ssl/certs/radius.pem',
        TLS_CERTIFICATE_KEY: '/etc/ssl/private/radius.key',
      },
    }).map((f) => [f.path, f]),
  );

  it('is a target of the CLI, writing five files under /etc/freeradius/3.0, none readable by others', () => {
    assert.equal(configTarget('freeradius'), freeradius);
    assert.equal(freeradius.folder, '/etc/freeradius/3.0');
    assert.deepEqual(
      [...files.keys()],
      [
        'mods-available/sesame',
        'mods-available/sesame-eap',
        'policy.d/sesame',
        'sites-available/sesame',
        'sites-available/sesame-inner-tunnel',
      ],
    );
    for (const f of files.values()) {
      assert.equal(f.mode, 0o640, f.path);
      assert.equal(f.group, 'freerad', f.path);
      assert.doesNotMatch(f.text, /@[A-Z][A-Z0-9_]*@/, `${f.path}: a placeholder left`);
    }
  });

  it('the key is in policy.d/sesame alone, as the Authorization header of the rest call', () => {
    for (const [p, f] of files) assert.equal(f.text.includes(KEY), p === 'policy.d/sesame', p);
    const policy = files.get('policy.d/sesame')!.text;
    assert.match(
      policy,
      new RegExp(
        `^sesame_pap \\{\\n\\tupdate control \\{\\n\\t\\t&REST-HTTP-Header := "Authorization: Bearer ${KEY}"\\n\\t\\}\\n\\tsesame\\n\\}`,
        'm',
      ),
    );
  });

  it("the rest module posts rlm_rest's JSON to /auth/radius, in its authenticate section only", () => {
    const rest = files.get('mods-available/sesame')!.text;
    assert.match(rest, /^rest sesame \{$/m);
    assert.match(rest, /connect_uri = "https:\/\/sesame\.example\.com"/);
    assert.match(
      rest,
      /authenticate \{\n\t\turi = "\$\{\.\.connect_uri\}\/auth\/radius"\n\t\tmethod = 'post'\n\t\tbody = 'json'/,
    );
    assert.match(rest, /check_cert = yes/);
    for (const section of ['authorize', 'accounting', 'post-auth', 'preacct'])
      assert.doesNotMatch(rest, new RegExp(`^\\t${section} \\{`, 'm'), section);
  });

  it('EAP is TTLS with PAP inside, the given certificate; no PEAP, MSCHAPv2 or MD5', () => {
    const eap = files.get('mods-available/sesame-eap')!.text;
    const config = eap
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n');
    assert.match(config, /default_eap_type = ttls/);
    assert.match(config, /certificate_file = \/etc\/ssl\/certs\/radius\.pem/);
    assert.match(config, /private_key_file = \/etc\/ssl\/private\/radius\.key/);
    assert.match(config, /ttls \{[^}]*default_eap_type = pap[^}]*virtual_server = "sesame-inner-tunnel"/);
    assert.doesNotMatch(config, /peap|mschap|\bmd5\b|\bgtc\b/i);
  });

  it('the sites listen where asked, send PAP to Sesame and nothing else, outer and inner', () => {
    const site = files.get('sites-available/sesame')!.text;
    assert.match(site, /type = auth\n\t\tipaddr = 127\.0\.0\.1\n\t\tport = 21812/);
    assert.match(site, /type = acct\n\t\tipaddr = 127\.0\.0\.1\n\t\tport = 21813/);
    const inner = files.get('sites-available/sesame-inner-tunnel')!.text;
    assert.match(inner, /^server sesame-inner-tunnel \{$/m);
    assert.doesNotMatch(inner, /listen \{/);
    for (const text of [site, inner]) {
      assert.match(text, /Auth-Type sesame \{\n\t\t\tsesame_pap\n\t\t\}/);
      assert.doesNotMatch(text, /\b(pap|chap|mschap|files|unix|eap)\b(?!_)/m);
    }
  });

  it('the next steps enable these files and take out Debian’s default site, inner tunnel and eap module', () => {
    assert.ok(freeradius.next.includes('ln -s ../mods-available/sesame ../mods-available/sesame-eap mods-enabled/'));
    assert.ok(
      freeradius.next.includes('ln -s ../sites-available/sesame ../sites-available/sesame-inner-tunnel sites-enabled/'),
    );
    assert.ok(freeradius.next.includes('rm sites-enabled/default sites-enabled/inner-tunnel mods-enabled/eap'));
  });

  it('checks its flags: an address or *, port numbers, paths FreeRADIUS reads unquoted', () => {
    const check = (flag: string, v: string) => freeradius.settings.find((s) => s.flag === flag)!.check!(v);
    assert.equal(check('listen-address', '*'), undefined);
    assert.equal(check('listen-address', '::1'), undefined);
    assert.notEqual(check('listen-address', '127.0.0.1 }'), undefined);
    assert.equal(check('auth-port', '1812'), undefined);
    for (const bad of ['0', '65536', 'x', '1812 ']) assert.notEqual(check('auth-port', bad), undefined, bad);
    assert.notEqual(check('certificate', '/etc/ssl/my cert.pem'), undefined);
    assert.notEqual(check('certificate-key', '/x}\nbad'), undefined);
  });
});
