/**
 * The admin dashboard (/admin/dashboard) and the sign-in log's downloads
 * (/admin/sign-ins/export.csv and .jsonl, with the page's filter). Registered by routes.ts, whose
 * admin check (an admin of their own organization, from a session with a second factor) they
 * share; the reports service checks the organization again on every call.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../app/context.js';
import type { Actor } from '../../domain/accounts/actor.js';
import type { RawSignInFilter } from '../../domain/audit/reports.js';
import { isSesameError } from '../../domain/errors.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { sendSignInExport } from './sign-in-export.js';
import { dashboardPage } from './dashboard-pages.js';
import type { Html } from '../../web/html.js';
import { messagePage } from '../../web/pages.js';
import { formatTime, pageContext, userMessage } from './routes.js';

export interface AdminPageHelpers {
  /** Answers (redirect to sign in, or a refusal page) and returns false unless an admin may go on. */
  requireAdmin(req: FastifyRequest, reply: FastifyReply): boolean;
  actorOf(req: FastifyRequest): Actor;
  send(reply: FastifyReply, page: Html, status?: number): FastifyReply;
}

/** GET /admin/dashboard, GET /admin/sign-ins/export.csv and .jsonl (filters as on /admin/sign-ins). */
export function registerDashboardRoutes(app: FastifyInstance, ctx: AppContext, h: AdminPageHelpers) {
  const hidden = { schema: { hide: true } };

  app.get('/admin/dashboard', hidden, async (req, reply) => {
    if (!h.requireAdmin(req, reply)) return reply;
    const d = await ctx.reports.dashboard(h.actorOf(req), req.user!.orgId);
    return h.send(reply, dashboardPage(pageContext(req, reply), d, formatTime));
  });

  for (const format of ['csv', 'jsonl'] as const) {
    app.get<{ Querystring: RawSignInFilter }>(`/admin/sign-ins/export.${format}`, hidden, async (req, reply) => {
      if (!h.requireAdmin(req, reply)) return reply;
      try {
        const events = ctx.reports.exportSignIns(h.actorOf(req), req.user!.orgId, req.query);
        return sendSignInExport(reply, events, format, ctx.clock.now());
      } catch (e) {
        if (!isSesameError(e)) throw e;
        return h.send(reply, messagePage(pageContext(req, reply), 'signins.title', userMessage(req, e), 'error'), HTTP_STATUS[e.code]);
      }
    });
  }
}
