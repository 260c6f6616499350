import type { ConfigTarget } from '../model.js';

/** Dovecot 2.3 with the Lua passdb: IMAP, POP3 and submission (and Postfix's SMTP AUTH) ask Sesame. */
export const dovecot: ConfigTarget = {
  name: 'dovecot',
  summary: 'Dovecot 2.3 (IMAP, POP3, submission; Postfix SASL) asking Sesame through its Lua passdb',
  folder: '/etc/dovecot',
  integration: 'dovecot',
  settings: [],
  files: [
    { template: 'dovecot/sesame-auth.lua', path: 'sesame-auth.lua', mode: 0o640, group: 'dovecot' },
    { template: 'dovecot/conf.d/auth-sesame.conf.ext', path: 'conf.d/auth-sesame.conf.ext', mode: 0o644 },
  ],
  next: ['doveadm reload'],
};
