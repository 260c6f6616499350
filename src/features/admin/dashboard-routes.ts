/**
 * The admin dashboard (/admin/dashboard) and the sign-in log's downloads
 * (/admin/sign-ins/export.csv and .jsonl, with the page's filter). Registered by routes.ts with its admin
 * guard (an admin of their own organization, from a session with a second factor); the reports
 * service checks the organization again on every call.
 */
import type { FastifyInstance, RouteShorthandOptions } from 'fastify';
import type { RawSignInFilter } from '../../domain/audit/reports.js';
import { isSesameError } from '../../domain/errors.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { actorOf } from '../../web/guards.js';
import { messagePage } from '../../web/layout.js';
import { pageContext, send, userMessage } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import { dashboardPage } from './dashboard-pages.js';
import { sendSignInExport } from './sign-in-export.js';
import { countryLookup, withCountries } from '../../web/countries.js';

/** GET /admin/dashboard, GET /admin/sign-ins/export.csv and .jsonl (filters as on /admin/sign-ins). `admin` carries the admin guard. */
export function registerDashboardRoutes(app: FastifyInstance, ctx: Services, admin: RouteShorthandOptions) {
  app.get('/admin/dashboard', admin, async (req, reply) => {
    const d = await ctx.reports.dashboard(actorOf(req), req.user!.orgId);
    return send(reply, dashboardPage(await withCountries(pageContext(req, reply), ctx.geoip), d));
  });

  for (const format of ['csv', 'jsonl'] as const) {
    app.get<{ Querystring: RawSignInFilter }>(`/admin/sign-ins/export.${format}`, admin, async (req, reply) => {
      try {
        const events = ctx.reports.exportSignIns(actorOf(req), req.user!.orgId, req.query);
        return sendSignInExport(reply, events, format, ctx.clock.now(), await countryLookup(ctx.geoip));
      } catch (e) {
        if (!isSesameError(e)) throw e;
        return send(
          reply,
          messagePage(pageContext(req, reply), 'signins.title', userMessage(req, e), 'error'),
          HTTP_STATUS[e.code],
        );
      }
    });
  }
}
