/**
 * The Mail settings pages: GET shows the settings, POST saves them (post/redirect/get), POST
 * /check shows the check's result, POST /remove removes them. Registered by routes.ts with its
 * guards: an admin of the organization with a second factor, and the CSRF token on every POST.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { isSesameError, type SesameError } from '../../domain/errors.js';
import { isDav, MAIL_SERVICES, MailSettingsError, type MailSettingsInput } from '../../domain/mail-settings/model.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { field } from '../../web/forms.js';
import { actorOf } from '../../web/guards.js';
import { pageContext, send, userMessage } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import { formOf, type MailSettingsForm, mailSettingsPage, type MailSettingsView } from './mail-settings-page.js';

const PATH = '/admin/mail-settings';

/** The form's fields as typed (cut to sane lengths), to show again after a refusal. */
function typed(body: unknown): MailSettingsForm {
  const f: MailSettingsForm = { userName: field(body, 'userName', 20) };
  for (const s of MAIL_SERVICES) {
    f[`${s}.host`] = field(body, `${s}.host`, 300);
    f[`${s}.port`] = field(body, `${s}.port`, 20);
    f[`${s}.security`] = isDav(s) ? 'tls' : field(body, `${s}.security`, 20);
    if (isDav(s)) f[`${s}.path`] = field(body, `${s}.path`, 300);
  }
  return f;
}

/** What the form asks for: a service whose server name is empty is not offered. */
function inputOf(f: MailSettingsForm): MailSettingsInput {
  const input: MailSettingsInput = { userName: f.userName || 'address' };
  for (const s of MAIL_SERVICES) {
    const host = (f[`${s}.host`] ?? '').trim();
    if (host === '') continue;
    const port = (f[`${s}.port`] ?? '').trim();
    input[s] = {
      host,
      port: /^\d{1,5}$/.test(port) ? Number(port) : Number.NaN,
      security: f[`${s}.security`] ?? '',
      ...(isDav(s) ? { path: (f[`${s}.path`] ?? '').trim() } : {}),
    };
  }
  return input;
}

export function registerMailSettingsRoutes(
  app: FastifyInstance,
  ctx: Services,
  admin: RouteShorthandOptions,
  adminForm: RouteShorthandOptions,
) {
  const show = async (req: FastifyRequest, reply: FastifyReply, view: Partial<MailSettingsView> = {}, status = 200) => {
    const saved = await ctx.mailSettings.get(actorOf(req), req.user!.orgId);
    return send(
      reply,
      mailSettingsPage(pageContext(req, reply, PATH), {
        saved: saved !== null,
        form: formOf(saved),
        profileSigner: ctx.profileSigner,
        ...view,
      }),
      status,
    );
  };
  const refused = (req: FastifyRequest, reply: FastifyReply, e: SesameError, form?: MailSettingsForm) => {
    const problems =
      e instanceof MailSettingsError ? new Map(e.problems.map((p) => [p.field, userMessage(req, p.error)])) : undefined;
    const error =
      e instanceof MailSettingsError && e.problems.length > 1
        ? req.t('mail_settings.problems', { count: e.problems.length })
        : userMessage(req, e);
    return show(
      req,
      reply,
      { error, ...(problems ? { problems } : {}), ...(form ? { form } : {}) },
      HTTP_STATUS[e.code],
    );
  };

  app.get<{ Querystring: { m?: string } }>(PATH, admin, async (req, reply) => {
    const notices: Record<string, string> = {
      saved: req.t('mail_settings.saved'),
      removed: req.t('mail_settings.removed'),
    };
    return show(req, reply, { notice: notices[req.query.m ?? ''] });
  });

  app.post(PATH, adminForm, async (req, reply) => {
    const form = typed(req.body);
    try {
      await ctx.mailSettings.set(actorOf(req), req.user!.orgId, inputOf(form));
      return reply.redirect(`${PATH}?m=saved`, 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return refused(req, reply, e, form);
    }
  });

  app.post(`${PATH}/check`, adminForm, async (req, reply) => {
    try {
      return show(req, reply, { results: await ctx.mailSettings.check(actorOf(req), req.user!.orgId) });
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return refused(req, reply, e);
    }
  });

  app.post(`${PATH}/remove`, adminForm, async (req, reply) => {
    await ctx.mailSettings.clear(actorOf(req), req.user!.orgId);
    return reply.redirect(`${PATH}?m=removed`, 303);
  });
}
