/**
 * Per-app help (issue #18, item 4; Wi-Fi and LDAP: issue #19, item 6): /help/apps lists the apps,
 * /help/apps/{app} says how to set one up. Public pages; a signed-in user sees their organization's
 * servers and their own user name filled in. Nothing in the URL names a domain or an address, so
 * the pages tell a visitor nothing about who or which organization exists.
 */
import type { FastifyRequest } from 'fastify';
import { peopleDn, personDn } from '../../adapters/ldap/directory.js';
import type { Feature } from '../../web/feature.js';
import { notFound } from '../../web/errors.js';
import { PAGE_ROUTE, pageContext, send } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import {
  ACCESS_APPS,
  ACCESS_PROTOCOL,
  type AccessApp,
  type AccessState,
  accessHelpPage,
  isAccessApp,
  type LdapService,
} from './access.js';
import { ldapServiceOf } from './ldap-service.js';
import { type HelpState, helpAppPage, helpAppsIndexPage, isMailHelpApp } from './pages.js';

async function stateOf(s: Services, req: FastifyRequest): Promise<HelpState> {
  const user = req.user;
  if (!user) return { kind: 'signed_out' };
  const settings = await s.mailSettings.forApps(user.orgId);
  return settings ? { kind: 'settings', settings, address: user.address } : { kind: 'no_settings' };
}

/** Read now, as the RADIUS and LDAP checks read them at each attempt: the policy's protocols and the required group. */
async function accessStateOf(
  s: Services,
  req: FastifyRequest,
  app: AccessApp,
  ldap: LdapService | undefined,
): Promise<AccessState> {
  if (app === 'ldap' && !ldap) return { kind: 'unavailable' };
  const user = req.user;
  if (!user) return { kind: 'signed_out' };
  const protocol = ACCESS_PROTOCOL[app];
  if (!(await s.appPasswords.policyFor(user.orgId)).appPasswords.protocols.includes(protocol))
    return { kind: 'not_allowed' };
  if (!(await s.groups.mayUse(user, protocol))) return { kind: 'not_in_group' };
  const { domain } = await s.accounts.getOrganization(user.orgId);
  return { kind: 'ok', address: user.address, baseDn: peopleDn(domain), dn: personDn(user.address, domain) };
}

export const appHelp: Feature = {
  pages: (app, s) => {
    const ldap = ldapServiceOf(s.config);
    app.get('/help/apps', PAGE_ROUTE, async (req, reply) => {
      const access = Object.fromEntries(
        await Promise.all(ACCESS_APPS.map(async (a) => [a, await accessStateOf(s, req, a, ldap)] as const)),
      ) as Record<AccessApp, AccessState>;
      return send(reply, helpAppsIndexPage(pageContext(req, reply), await stateOf(s, req), access));
    });
    app.get<{ Params: { app: string } }>('/help/apps/:app', PAGE_ROUTE, async (req, reply) => {
      const name = req.params.app;
      if (isAccessApp(name))
        return send(
          reply,
          accessHelpPage(pageContext(req, reply), name, await accessStateOf(s, req, name, ldap), ldap),
        );
      if (!isMailHelpApp(name)) return notFound(req, reply);
      return send(reply, helpAppPage(pageContext(req, reply), name, await stateOf(s, req)));
    });
  },
};
