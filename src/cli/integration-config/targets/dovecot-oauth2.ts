import type { ConfigTarget, TemplateFile } from '../model.js';

/** One introspection settings file per protocol Sesame checks: the file's client_id names it. */
const argsFile = (protocol: 'imap' | 'pop3' | 'smtp'): TemplateFile => ({
  template: 'dovecot/dovecot-oauth2.conf.ext',
  path: `dovecot-oauth2-${protocol}.conf.ext`,
  mode: 0o640,
  group: 'dovecot',
  values: { CLIENT_ID: protocol },
});

/**
 * Dovecot 2.3's built-in oauth2 passdb asking Sesame's RFC 7662 introspection (no Lua module needed).
 * Dovecot sends one client_id per settings file, and a passdb inside `protocol imap { }` is used for
 * that service only: IMAP, POP3 and the rest (submission, Postfix's SMTP AUTH) each get their own
 * file, so an app password limited to one protocol works there only (tested on stock Debian's
 * Dovecot in test/e2e/integrations-oauth2.test.ts).
 */
export const dovecotOauth2: ConfigTarget = {
  name: 'dovecot-oauth2',
  summary: "Dovecot 2.3's built-in oauth2 passdb asking Sesame's token introspection (app passwords only)",
  folder: '/etc/dovecot',
  integration: 'dovecot-oauth2',
  settings: [],
  files: [
    argsFile('imap'),
    argsFile('pop3'),
    argsFile('smtp'),
    { template: 'dovecot/conf.d/95-sesame-oauth2.conf', path: 'conf.d/95-sesame-oauth2.conf', mode: 0o644 },
  ],
  next: [
    "sed -i 's/^!include auth-system.conf.ext/#&/' /etc/dovecot/conf.d/10-auth.conf",
    'systemctl restart dovecot',
    'see docs/dovecot-oauth2.md (the vmail user, the TLS certificate)',
  ],
};
