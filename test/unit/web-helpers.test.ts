import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { safeNext } from '../../src/web/links.js';
import { en } from '../../src/i18n/en.js';
import { negotiateLocale, translator } from '../../src/i18n/i18n.js';
import { nl } from '../../src/i18n/nl.js';
import { html } from '../../src/web/html.js';
import { ERROR_CODES } from '../../src/domain/errors.js';
import { SIGN_IN_REASONS, type SignInEvent } from '../../src/domain/audit/events.js';
import { protocolName, signInAgent, signInReason } from '../../src/web/components.js';
import type { PageContext } from '../../src/web/layout.js';

describe('redirect after sign-in (checklist 34)', () => {
  it('keeps paths on this site', () => {
    assert.equal(safeNext('/admin/users?q=a'), '/admin/users?q=a');
  });
  it('refuses everything that leaves the site', () => {
    for (const bad of [
      '//evil.test',
      '/\\evil.test',
      'https:evil.test',
      'https://evil.test',
      'javascript:alert(1)',
      'evil',
      '/\t/evil.test',
      '/%0d%0aSet-Cookie:x',
      '',
      undefined,
      42,
    ]) {
      const out = safeNext(bad);
      assert.ok(out.startsWith('/') && !out.startsWith('//') && !out.includes('\\'), String(bad));
      assert.ok(!/evil/.test(out) || out.startsWith('/%'), `${String(bad)} -> ${out}`);
    }
  });
});

describe('message catalogues', () => {
  it('have the same ids in English and Dutch, none empty', () => {
    assert.deepEqual(Object.keys(nl).sort(), Object.keys(en).sort());
    for (const [k, v] of Object.entries(nl)) assert.ok(v.trim().length > 0, k);
  });
  it('use the same placeholders in both languages, and no lazy plural ("(s)", "(en)", "minuut/minuten")', () => {
    // The names a message reads from its parameters: `{name}` and `{name, plural, ...}`, not a
    // plural's branch (`one {minute}`).
    const names = (text: string) =>
      [
        ...new Set(
          [...text.matchAll(/(?<!\b(?:zero|one|two|few|many|other|=\d+) )\{(\w+)(?:\}|, plural,)/g)].map((m) => m[1]),
        ),
      ].sort();
    for (const id of Object.keys(en) as (keyof typeof en)[]) {
      assert.deepEqual(names(nl[id]), names(en[id]), `${id}: the placeholders differ between English and Dutch`);
      for (const [lang, text] of [
        ['en', en[id]],
        ['nl', nl[id]],
      ] as const)
        assert.doesNotMatch(text, /\w\((s|en|n)\)|minuut\/minuten/, `${lang} ${id}: a plural written for every number`);
    }
  });
  it('spell English the US way, as the help text Sesame follows does (docs/decisions.md)', () => {
    const british =
      /\b(?:organis(?:e|es|ed|ing|ation|ations|ational)|authoris\w*|recognis\w*|colour\w*|favourite\w*|behaviour\w*|licence|cancell(?:ed|ing)|centre|catalogue|analys(?:e|ed|es|ing)|customis\w*|minimis\w*|prioritis\w*|initialis\w*|enrol(?:s|ment)?|travell\w*)\b/i;
    for (const [id, text] of Object.entries(en)) assert.doesNotMatch(text, british, `${id}: a British spelling`);
  });
  it('choose the words that fit the number (Intl.PluralRules), in both languages', () => {
    const [t, tNl] = [translator('en'), translator('nl')];
    assert.equal(t('error.throttled', { minutes: 1 }), 'Too many attempts. Try again in 1 minute.');
    assert.equal(tNl('error.throttled', { minutes: 1 }), 'Te veel pogingen. Probeer het over 1 minuut opnieuw.');
    assert.equal(tNl('error.throttled', { minutes: 5 }), 'Te veel pogingen. Probeer het over 5 minuten opnieuw.');
    assert.equal(t('users.count', { total: 1 }), '1 user');
    assert.equal(t('users.count', { total: 0 }), '0 users');
    assert.equal(tNl('users.count', { total: 1 }), '1 gebruiker');
    assert.equal(t('ap.admin.revoked', { count: 1, address: 'a@b' }), '1 app password of a@b was deleted.');
    assert.equal(t('ap.admin.revoked', { count: 3, address: 'a@b' }), '3 app passwords of a@b were deleted.');
    assert.equal(
      tNl('bulk.summary', { changes: 1, same: 2 }),
      '1 gebruiker wordt gewijzigd; 2 zijn al zoals gevraagd. Er is nog niets gewijzigd.',
    );
    // A message without a plural is left alone, braces of other kinds too.
    assert.equal(
      t('users.reset_sent', { address: 'a@b', to: 'c@d' }),
      'A password reset link for a@b was sent to c@d.',
    );
  });
  it('say every sign-in reason and protocol in words, in both languages (#17, item 3)', () => {
    for (const r of SIGN_IN_REASONS) assert.ok(`reason.${r}` in en && `reason.${r}` in nl, r);
    const ctx = (lang: 'en' | 'nl') => ({ t: translator(lang) }) as unknown as PageContext;
    assert.equal(protocolName(ctx('en'), 'imap'), 'IMAP (mail)');
    assert.equal(protocolName(ctx('en'), 'web:mfa'), 'Browser, second step');
    assert.equal(protocolName(ctx('nl'), 'api:mfa'), 'App of script (API), tweede stap');
    assert.equal(protocolName(ctx('en'), 'gopher'), 'gopher', 'an unknown protocol as stored');
    const row = { reason: 'main_password_refused' } as SignInEvent;
    assert.equal(
      signInReason(ctx('nl'), row).value,
      'Accountwachtwoord hier geweigerd: een app-wachtwoord is nodig <code class="hint">main_password_refused</code>',
    );
    const chrome = { userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36' } as SignInEvent;
    assert.equal(
      signInAgent(ctx('en'), chrome).value,
      '<td class="agent" title="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36">Chrome on Windows</td>',
    );
    assert.match(signInAgent(ctx('nl'), chrome).value, />Chrome op Windows</);
    assert.match(signInAgent(ctx('nl'), { userAgent: '' } as SignInEvent).value, />Onbekend</);
  });
  it('have a message for every error code in both languages', () => {
    for (const c of ERROR_CODES) assert.ok(`error.${c}` in en && `error.${c}` in nl, c);
  });
  it('use the words of the product', () => {
    assert.equal(translator('nl')('signin.submit'), 'Aanmelden');
    assert.equal(translator('nl')('signin.password'), 'Wachtwoord');
    assert.equal(translator('en')('error.throttled', { minutes: 2 }), 'Too many attempts. Try again in 2 minutes.');
  });
  it('negotiates Accept-Language with q-values', () => {
    assert.equal(negotiateLocale('nl-NL,nl;q=0.9,en;q=0.8'), 'nl');
    assert.equal(negotiateLocale('de-DE, en;q=0.5, nl;q=0.7'), 'nl');
    assert.equal(negotiateLocale('fr'), 'en');
    assert.equal(negotiateLocale(undefined), 'en');
    assert.equal(negotiateLocale('nl;q=0'), 'en');
  });
});

describe('html templates escape by construction (checklist 35)', () => {
  it('escapes interpolated strings but not nested fragments', () => {
    const name = '<svg onload=alert(1)>"\'&';
    assert.equal(
      html`<p title="${name}">${name}</p>`.value,
      '<p title="&lt;svg onload=alert(1)&gt;&quot;&#39;&amp;">&lt;svg onload=alert(1)&gt;&quot;&#39;&amp;</p>',
    );
    assert.equal(html`<div>${html`<b>${'<i>'}</b>`}</div>`.value, '<div><b>&lt;i&gt;</b></div>');
    assert.equal(html`${[1, '<', null, false]}`.value, '1&lt;');
  });
});
