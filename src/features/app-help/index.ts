/**
 * Per-app help (issue #18, item 4): /help/apps lists the apps, /help/apps/{app} says how to set one
 * up. Public pages; a signed-in user sees their organization's servers and their own user name
 * filled in. Nothing in the URL names a domain or an address, so the pages tell a visitor nothing
 * about who or which organization exists.
 */
import type { FastifyRequest } from 'fastify';
import type { Feature } from '../../web/feature.js';
import { notFound } from '../../web/errors.js';
import { PAGE_ROUTE, pageContext, send } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import { type HelpState, helpAppPage, helpAppsIndexPage, isHelpApp } from './pages.js';

async function stateOf(s: Services, req: FastifyRequest): Promise<HelpState> {
  const user = req.user;
  if (!user) return { kind: 'signed_out' };
  const settings = await s.mailSettings.forApps(user.orgId);
  return settings ? { kind: 'settings', settings, address: user.address } : { kind: 'no_settings' };
}

export const appHelp: Feature = {
  pages: (app, s) => {
    app.get('/help/apps', PAGE_ROUTE, async (req, reply) =>
      send(reply, helpAppsIndexPage(pageContext(req, reply), await stateOf(s, req))),
    );
    app.get<{ Params: { app: string } }>('/help/apps/:app', PAGE_ROUTE, async (req, reply) => {
      const name = req.params.app;
      if (!isHelpApp(name)) return notFound(req, reply);
      return send(reply, helpAppPage(pageContext(req, reply), name, await stateOf(s, req)));
    });
  },
};
