/** Every target of `sesame integration config`, by name (one file each in targets/). */
import type { ConfigTarget } from './model.js';
import { dovecot } from './targets/dovecot.js';
import { dovecotOauth2 } from './targets/dovecot-oauth2.js';
import { caddyForwardAuth, nginxForwardAuth, traefikForwardAuth } from './targets/forward-auth.js';
import { freeradius } from './targets/freeradius.js';
import { apacheLdap, dovecotLdap } from './targets/ldap.js';
import { nginxMail } from './targets/nginx-mail.js';
import { postfix } from './targets/postfix.js';

export const CONFIG_TARGETS: readonly ConfigTarget[] = [
  dovecot,
  dovecotOauth2,
  postfix,
  nginxMail,
  nginxForwardAuth,
  caddyForwardAuth,
  traefikForwardAuth,
  freeradius,
  apacheLdap,
  dovecotLdap,
];

export function configTarget(name: string): ConfigTarget | undefined {
  return CONFIG_TARGETS.find((t) => t.name === name);
}
