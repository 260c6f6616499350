import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { safeNext } from '../../src/web/links.js';
import { en } from '../../src/i18n/en.js';
import { negotiateLocale, translator } from '../../src/i18n/i18n.js';
import { nl } from '../../src/i18n/nl.js';
import { html } from '../../src/web/html.js';
import { ERROR_CODES } from '../../src/domain/errors.js';

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
  it('have a message for every error code in both languages', () => {
    for (const c of ERROR_CODES) assert.ok(`error.${c}` in en && `error.${c}` in nl, c);
  });
  it('use the words of the product', () => {
    assert.equal(translator('nl')('signin.submit'), 'Aanmelden');
    assert.equal(translator('nl')('signin.password'), 'Wachtwoord');
    assert.equal(translator('en')('error.throttled', { minutes: 2 }), 'Too many attempts. Try again in 2 minute(s).');
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
