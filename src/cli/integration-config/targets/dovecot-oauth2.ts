import type { ConfigTarget } from '../model.js';

/** Dovecot's built-in oauth2 passdb asking Sesame's RFC 7662 introspection (no Lua module needed). */
export const dovecotOauth2: ConfigTarget = {
  name: 'dovecot-oauth2',
  summary: "Dovecot's built-in oauth2 passdb asking Sesame's token introspection (app passwords only)",
  folder: '/etc/dovecot',
  integration: 'dovecot-oauth2',
  settings: [],
  files: [
    { template: 'dovecot/dovecot-oauth2.conf.ext', path: 'dovecot-oauth2.conf.ext', mode: 0o640, group: 'dovecot' },
  ],
  next: ['doveadm reload'],
};
