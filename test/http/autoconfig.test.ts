/**
 * Mail apps setting themselves up (issue #18, item 3), on both stores: Mozilla's autoconfiguration
 * document and Microsoft's POX Autodiscover answer are read by an independent XML parser
 * (Python's xml.etree.ElementTree) and checked field by field against the saved mail settings;
 * neither holds a password; an unknown domain and an organization without settings answer the
 * same bare 404 (the answer depends on the domain only, so nothing tells who exists); a body
 * too large or not a request is refused; XML's special characters are escaped.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { OPERATOR } from '../../src/domain/accounts/actor.js';
import type { MailSettingsInput } from '../../src/domain/mail-settings/model.js';
import { STORE_KINDS } from '../support/stores.js';
import { ADMIN, makeWorld, USER, type World } from '../support/world.js';

/** The document as Python's ElementTree reads it: namespaces stripped, every element as {tag, attrib, text, children}. */
interface Node {
  tag: string;
  attrib: Record<string, string>;
  text: string;
  children: Node[];
}
const PARSE = `
import json, sys, xml.etree.ElementTree as ET
def walk(e):
    return {"tag": e.tag.split("}")[-1], "ns": e.tag[1:].split("}")[0] if e.tag.startswith("{") else "",
            "attrib": e.attrib, "text": (e.text or "").strip(), "children": [walk(c) for c in e]}
print(json.dumps(walk(ET.fromstring(sys.stdin.buffer.read()))))
`;
const parse = (xml: string): Node & { ns: string } =>
  JSON.parse(execFileSync('python3', ['-c', PARSE], { input: xml }).toString());
const kids = (n: Node, tag: string) => n.children.filter((c) => c.tag === tag);
const kid = (n: Node, tag: string) => {
  const found = kids(n, tag);
  assert.equal(found.length, 1, `one <${tag}> in <${n.tag}>`);
  return found[0]!;
};
const text = (n: Node, tag: string) => kid(n, tag).text;

const FULL: MailSettingsInput = {
  imap: { host: 'imap.contoso.test', port: 993, security: 'tls' },
  pop3: { host: 'pop.contoso.test', port: 110, security: 'starttls' },
  smtp: { host: 'smtp.contoso.test', port: 587, security: 'starttls' },
  caldav: { host: 'dav.contoso.test', port: 443, security: 'tls', path: '/dav/' },
  userName: 'address',
};

for (const kind of STORE_KINDS) {
  describe(`autoconfiguration and Autodiscover on ${kind}`, () => {
    let w: World;
    let fabrikamId: string;
    before(async () => {
      w = await makeWorld(kind);
      const contoso = await w.ctx.accounts.organizationByDomain('contoso.test');
      fabrikamId = (await w.ctx.accounts.organizationByDomain('fabrikam.test')).id;
      await w.ctx.mailSettings.set(OPERATOR, contoso.id, FULL);
    });
    after(() => w.close());

    const get = (url: string, host = 'sesame.test') => w.app.inject({ method: 'GET', url, headers: { host } });
    const autodiscover = (email: string) =>
      `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>${email}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;
    const post = (body: string, contentType = 'text/xml', url = '/autodiscover/autodiscover.xml') =>
      w.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': contentType, host: 'autodiscover.contoso.test' },
        payload: body,
      });

    const noSecrets = (body: string) => {
      assert.doesNotMatch(body, /password(?!-cleartext)/i, 'no password, only the authentication method');
      for (const secret of [ADMIN.password, USER.password]) assert.ok(!body.includes(secret));
    };

    function checkMozilla(body: string, userName: string, name = 'Contoso') {
      const root = parse(body);
      assert.equal(root.tag, 'clientConfig');
      assert.equal(root.attrib.version, '1.1');
      const p = kid(root, 'emailProvider');
      assert.equal(p.attrib.id, 'contoso.test');
      assert.equal(text(p, 'domain'), 'contoso.test');
      assert.equal(text(p, 'displayName'), name);
      const incoming = kids(p, 'incomingServer');
      assert.deepEqual(
        incoming.map((s) => s.attrib.type),
        ['imap', 'pop3'],
      );
      const expect = [
        [incoming[0]!, 'imap.contoso.test', '993', 'SSL'],
        [incoming[1]!, 'pop.contoso.test', '110', 'STARTTLS'],
        [kid(p, 'outgoingServer'), 'smtp.contoso.test', '587', 'STARTTLS'],
      ] as const;
      assert.equal(kid(p, 'outgoingServer').attrib.type, 'smtp');
      for (const [s, host, port, socket] of expect) {
        assert.equal(text(s, 'hostname'), host);
        assert.equal(text(s, 'port'), port);
        assert.equal(text(s, 'socketType'), socket);
        assert.equal(text(s, 'username'), userName);
        assert.equal(text(s, 'authentication'), 'password-cleartext');
        assert.deepEqual(kids(s, 'password'), []);
      }
      noSecrets(body);
    }

    it('Mozilla autoconfig at both paths: every field as saved, application/xml, cached a few minutes', async () => {
      for (const url of [
        '/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=bob%40contoso.test',
        '/mail/config-v1.1.xml?emailaddress=Bob%40Contoso.Test',
      ]) {
        const r = await get(url);
        assert.equal(r.statusCode, 200, url);
        assert.match(String(r.headers['content-type']), /^application\/xml/);
        assert.match(String(r.headers['cache-control']), /max-age=300/);
        assert.equal(r.headers['set-cookie'], undefined);
        checkMozilla(r.body, '%EMAILADDRESS%');
      }
      // Without an address: the host asked (autoconfig.<domain>, or the domain itself) names the domain.
      checkMozilla((await get('/mail/config-v1.1.xml', 'autoconfig.contoso.test')).body, '%EMAILADDRESS%');
      checkMozilla((await get('/.well-known/autoconfig/mail/config-v1.1.xml', 'contoso.test')).body, '%EMAILADDRESS%');
    });

    it('the same answer for an address that has no account: no user is looked up', async () => {
      const a = await get('/mail/config-v1.1.xml?emailaddress=nobody%40contoso.test');
      const b = await get('/mail/config-v1.1.xml?emailaddress=bob%40contoso.test');
      assert.equal(a.statusCode, 200);
      assert.equal(a.body, b.body);
      const c = await post(autodiscover('nobody@contoso.test'));
      assert.equal(c.statusCode, 200);
    });

    it('404 with nothing in it: an unknown domain, an organization without settings, a bad address', async () => {
      for (const url of [
        '/mail/config-v1.1.xml?emailaddress=bob%40unknown.test',
        '/mail/config-v1.1.xml?emailaddress=eve%40fabrikam.test',
        '/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=not-an-address',
        '/mail/config-v1.1.xml',
      ]) {
        const r = await get(url);
        assert.equal(r.statusCode, 404, url);
        assert.equal(r.body, '', url);
      }
      for (const email of ['bob@unknown.test', 'eve@fabrikam.test']) {
        const r = await post(autodiscover(email));
        assert.equal(r.statusCode, 404, email);
        assert.equal(r.body, '');
      }
    });

    function checkAutodiscover(body: string, login: string, withPop = true) {
      const root = parse(body);
      assert.equal(root.tag, 'Autodiscover');
      assert.equal(root.ns, 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006');
      const response = kid(root, 'Response') as Node & { ns: string };
      assert.equal(response.ns, 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a');
      const account = kid(response, 'Account');
      assert.equal(text(account, 'AccountType'), 'email');
      assert.equal(text(account, 'Action'), 'settings');
      const protocols = kids(account, 'Protocol');
      const byType = new Map(protocols.map((p) => [text(p, 'Type'), p]));
      assert.deepEqual([...byType.keys()], withPop ? ['IMAP', 'POP3', 'SMTP'] : ['IMAP', 'SMTP']);
      const expect: [string, string, string, string][] = [
        ['IMAP', 'imap.contoso.test', '993', 'SSL'],
        ['SMTP', 'smtp.contoso.test', '587', 'TLS'],
      ];
      if (withPop) expect.push(['POP3', 'pop.contoso.test', '110', 'TLS']);
      for (const [type, host, port, encryption] of expect) {
        const p = byType.get(type)!;
        assert.equal(text(p, 'Server'), host);
        assert.equal(text(p, 'Port'), port);
        assert.equal(text(p, 'SSL'), 'on');
        assert.equal(text(p, 'Encryption'), encryption);
        assert.equal(text(p, 'LoginName'), login);
        assert.equal(text(p, 'SPA'), 'off');
        assert.equal(text(p, 'AuthRequired'), 'on');
      }
      noSecrets(body);
    }

    it('Autodiscover: an Outlook request posted (either spelling of the path, text/xml or application/xml); GET with ?emailaddress=', async () => {
      const a = await post(autodiscover('Bob@Contoso.test'));
      assert.equal(a.statusCode, 200);
      assert.match(String(a.headers['content-type']), /^application\/xml/);
      assert.match(String(a.headers['cache-control']), /max-age=300/);
      checkAutodiscover(a.body, 'bob@contoso.test');
      const b = await post(
        autodiscover('bob@contoso.test'),
        'application/xml; charset=utf-8',
        '/Autodiscover/Autodiscover.xml',
      );
      assert.equal(b.statusCode, 200);
      checkAutodiscover(b.body, 'bob@contoso.test');
      const c = await get('/autodiscover/autodiscover.xml?emailaddress=bob%40contoso.test');
      assert.equal(c.statusCode, 200);
      checkAutodiscover(c.body, 'bob@contoso.test');
    });

    it('Autodiscover: a body too large is refused (413), one that is not a request (400), nothing expanded', async () => {
      const big = await post(autodiscover('bob@contoso.test') + ' '.repeat(5000));
      assert.equal(big.statusCode, 413);
      assert.doesNotMatch(big.body, /imap\.contoso/);
      for (const garbage of [
        'not xml at all',
        '<Autodiscover><Request></Request></Autodiscover>',
        '<!DOCTYPE x [<!ENTITY e "bob@contoso.test">]><Autodiscover><Request><EMailAddress>&e;</EMailAddress></Request></Autodiscover>',
        autodiscover('not-an-address'),
      ]) {
        const r = await post(garbage);
        assert.equal(r.statusCode, 400, garbage);
        assert.doesNotMatch(r.body, /contoso/);
      }
      const form = await w.app.inject({
        method: 'POST',
        url: '/autodiscover/autodiscover.xml',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'EMailAddress=bob%40contoso.test',
      });
      assert.equal(form.statusCode, 400);
      const none = await get('/autodiscover/autodiscover.xml');
      assert.equal(none.statusCode, 400);
    });

    it('the local part as user name; an organization named A & "B" <C> escaped; an address with \' and & escaped; only IMAP: no POP3', async () => {
      await w.ctx.mailSettings.set(OPERATOR, fabrikamId, {
        imap: { host: 'imap.contoso.test', port: 993, security: 'tls' },
        smtp: { host: 'smtp.contoso.test', port: 587, security: 'starttls' },
        userName: 'localpart',
      });
      const org = await w.ctx.accounts.addOrganization(OPERATOR, 'special.test', 'A & "B" <C>');
      await w.ctx.mailSettings.set(OPERATOR, org.id, FULL);
      try {
        const moz = await get('/mail/config-v1.1.xml?emailaddress=eve%40fabrikam.test');
        assert.equal(moz.statusCode, 200);
        const root = parse(moz.body);
        const p = kid(root, 'emailProvider');
        assert.deepEqual(
          kids(p, 'incomingServer').map((s) => s.attrib.type),
          ['imap'],
        );
        for (const s of [...kids(p, 'incomingServer'), ...kids(p, 'outgoingServer')])
          assert.equal(text(s, 'username'), '%EMAILLOCALPART%');

        const ad = await post(autodiscover('eve@fabrikam.test'));
        assert.equal(ad.statusCode, 200);
        checkAutodiscover(ad.body.replaceAll('fabrikam', 'contoso'), 'eve', false);
        assert.doesNotMatch(ad.body, /POP3/);

        // An address may hold ' and &: sent escaped, answered escaped, read back as it was.
        const odd = await post(autodiscover('o&apos;neil&amp;co@fabrikam.test'));
        assert.equal(odd.statusCode, 200);
        checkAutodiscover(odd.body, "o'neil&co", false);

        const special = await get('/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a%40special.test');
        assert.equal(special.statusCode, 200);
        assert.match(special.body, /A &amp; &quot;B&quot; &lt;C&gt;/);
        const sp = kid(parse(special.body), 'emailProvider');
        assert.equal(text(sp, 'displayName'), 'A & "B" <C>');
        assert.equal(sp.attrib.id, 'special.test');
      } finally {
        await w.ctx.mailSettings.clear(OPERATOR, fabrikamId);
      }
    });
  });
}
