/**
 * The mail targets of `sesame integration config` (dovecot, postfix, nginx-mail): what each renders,
 * in the shape the stock-server test (test/e2e/integrations-mail.test.ts) proves on Debian. Here,
 * without servers: every placeholder filled, the key only where the server asks Sesame itself, the
 * settings that make the setup safe present, and the flags' checks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTarget } from '../../src/cli/integration-config/model.js';
import { dovecot } from '../../src/cli/integration-config/targets/dovecot.js';
import { nginxMail } from '../../src/cli/integration-config/targets/nginx-mail.js';
import { postfix } from '../../src/cli/integration-config/targets/postfix.js';

const KEY = 'sesame_int_unit_test_key';
const byPath = (files: { path: string; text: string; mode: number }[]) => new Map(files.map((f) => [f.path, f]));

describe('integration config: the mail targets', () => {
  it('dovecot: the Lua script with URL and key (0640, group dovecot) and the conf.d drop-in a stock dovecot.conf reads', () => {
    const files = byPath(renderTarget(dovecot, { sesameUrl: 'http://127.0.0.1:8080', key: KEY, values: {} }));
    assert.deepEqual(
      [...files.keys()],
      ['sesame-auth.lua', 'conf.d/99-sesame.conf', 'conf.d/99-sesame-doveadm-api.conf'],
    );
    // The doveadm API for Sesame: loopback by default, a fresh key, never readable by others.
    const api = files.get('conf.d/99-sesame-doveadm-api.conf')!;
    assert.equal(api.mode, 0o640);
    assert.match(api.text, /^doveadm_api_key = [A-Za-z0-9_-]{43}$/m);
    assert.match(api.text, /^ {4}address = 127\.0\.0\.1\n {4}port = 8082$/m);
    const lua = files.get('sesame-auth.lua')!;
    assert.equal(lua.mode, 0o640);
    assert.match(lua.text, /local SESAME_URL = "http:\/\/127\.0\.0\.1:8080"/);
    assert.match(lua.text, new RegExp(`local INTEGRATION_KEY = "${KEY}"`));
    // For an http:// URL the script speaks HTTP/1.1 itself with lua-socket (one request with its
    // length, no Expect: 100-continue); Dovecot's Lua HTTP client only for https:// or without
    // lua-socket, and then with a warning (test/e2e/dovecot-lua-socket.test.ts checks the wire).
    assert.match(
      lua.text,
      /target = parse_http_url\(SESAME_URL\)\n\s+if target then\n\s+local ok, lib = pcall\(require, "socket"\)/,
    );
    const askSocket = /local function ask_socket\(body\)\n([\s\S]*?)\nend/.exec(lua.text)?.[1] ?? '';
    assert.match(askSocket, /"Content-Length: " \.\. #body/);
    assert.doesNotMatch(askSocket, /Expect|dovecot\.http/i);
    assert.match(lua.text, /dovecot\.i_warning\("sesame-auth\.lua: LuaSocket is not installed/);
    const verify = /function auth_password_verify\(req, password\)\n([\s\S]*?)\nend/.exec(lua.text)?.[1] ?? '';
    assert.match(
      verify,
      /if target then\n\s+status, problem = ask_socket\(body\)\n\s+else\n\s+status, problem = ask_dovecot_http\(body\)/,
    );
    // A lookup without a password can never log anyone in.
    const lookup = /function auth_passdb_lookup\(req\)\n([\s\S]*?)\nend/.exec(lua.text)?.[1] ?? '';
    assert.match(lookup, /PASSDB_RESULT_SCHEME_NOT_AVAILABLE/);
    assert.doesNotMatch(lookup, /PASSDB_RESULT_OK|nopassword/);
    const conf = files.get('conf.d/99-sesame.conf')!.text;
    assert.match(
      conf,
      /^userdb \{\n\s+driver = static\n\s+args = uid=vmail gid=vmail home=\/var\/vmail\/%d\/%n allow_all_users=yes\n\}/m,
    );
    assert.match(conf, /^mail_location = maildir:~\/Maildir$/m);
    assert.match(conf, /unix_listener \/var\/spool\/postfix\/private\/auth \{/);
    assert.match(conf, /unix_listener \/var\/spool\/postfix\/private\/dovecot-lmtp \{/);
    assert.match(conf, /^auth_cache_ttl = 0$/m);
    // Nothing relaxes TLS: the stock ssl and disable_plaintext_auth stay.
    assert.doesNotMatch(conf, /^\s*(ssl|disable_plaintext_auth)\s*=/m);
    assert.doesNotMatch(conf, /^\s*login_trusted_networks\s*=/m);
  });

  it('postfix: main.cf settings for postconf -e, no key; SMTP AUTH only after TLS; the domain and certificate filled in', () => {
    assert.equal(postfix.integration, undefined);
    const [file] = renderTarget(postfix, {
      sesameUrl: 'http://127.0.0.1:8080',
      values: { MAIL_DOMAIN: 'example.com', TLS_CERTIFICATE: '/c/full.pem', TLS_CERTIFICATE_KEY: '/c/key.pem' },
    });
    const lines = file!.text.split('\n').filter((l) => l && !l.startsWith('#'));
    for (const l of lines) assert.match(l, /^[a-z_]+ = \S/, `every line is one postconf -e setting: ${l}`);
    assert.ok(lines.includes('smtpd_tls_auth_only = yes'));
    assert.ok(lines.includes('smtpd_tls_chain_files = /c/key.pem, /c/full.pem'));
    assert.ok(lines.includes('virtual_mailbox_domains = example.com'));
    assert.ok(lines.includes('virtual_transport = lmtp:unix:private/dovecot-lmtp'));
    assert.equal(
      postfix.settings.find((s) => s.flag === 'domain')!.check!('example.com; rm -rf /'),
      'domain names, comma-separated',
    );
    assert.equal(postfix.settings.find((s) => s.flag === 'certificate')!.check!('relative.pem'), 'an absolute path');
  });

  it("nginx-mail: nginx's file with the key (0640) listening on the given address, and the Dovecot drop-in whose local block names that address", () => {
    const files = byPath(
      renderTarget(nginxMail, {
        sesameUrl: 'http://127.0.0.1:8080',
        key: KEY,
        values: {
          PUBLIC_ADDRESS: '192.0.2.1',
          MAIL_HOSTNAME: 'mail.example.com',
          TLS_CERTIFICATE: '/c/full.pem',
          TLS_CERTIFICATE_KEY: '/c/key.pem',
          ...Object.fromEntries(nginxMail.settings.filter((s) => s.default).map((s) => [s.placeholder, s.default!])),
        },
      }),
    );
    const proxy = files.get('nginx/mail-proxy.conf')!;
    assert.equal(proxy.mode, 0o640);
    assert.match(proxy.text, new RegExp(`auth_http_header Authorization "Bearer ${KEY}";`));
    for (const port of [143, 993, 110, 995, 587, 465])
      assert.match(proxy.text, new RegExp(`listen 192\\.0\\.2\\.1:${port}( ssl)?;`));
    assert.match(proxy.text, /starttls only;/);
    const dovecotFile = files.get('dovecot/conf.d/99-sesame-nginx.conf')!.text;
    assert.match(dovecotFile, /^local 192\.0\.2\.1 \{\n\s+disable_plaintext_auth = no\n\}/m);
    assert.equal(nginxMail.settings.find((s) => s.flag === 'address')!.check!('mail.example.com'), 'an IPv4 address');
    assert.equal(nginxMail.settings.find((s) => s.flag === 'listen-imap')!.check!('143; evil'), 'a port number');
  });
});
