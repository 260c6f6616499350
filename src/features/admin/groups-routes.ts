/**
 * The Groups pages (issue #19, item 1): the list and one group's page (GET), and every change
 * (POST, post/redirect/get with a notice). Removing a member and deleting a group first answer with
 * a confirmation page; only the same POST with `confirm=1` acts. A membership file (uploaded or
 * pasted) is previewed in full and applied only when confirmed and free of problems. Registered by
 * routes.ts with its guards: an admin of the organization with a second factor, and the CSRF token
 * on every POST, the upload's in a form field like the others.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { isSesameError, SesameError } from '../../domain/errors.js';
import { membershipRowsFromCsv } from '../../domain/groups/group-csv.js';
import { GROUP_USES, type Group } from '../../domain/groups/model.js';
import { confirmationPage, confirmed } from '../../web/components.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { field } from '../../web/forms.js';
import { actorOf } from '../../web/guards.js';
import { messagePage } from '../../web/layout.js';
import { safeNext } from '../../web/links.js';
import { pageContext, send, userMessage } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import { groupPage, groupPagePath, groupsPage, IMPORT_MAX, importPreviewPage } from './groups-pages.js';
import { withNotice } from './user-routes.js';

const LIST = '/admin/groups';
const tooLarge = () =>
  new SesameError('bulk_too_large', 'group file over the size limit', {
    variant: 'group_file',
    params: { kb: IMPORT_MAX / 1000 },
  });

/** The file's bytes when one was chosen (a browser sends an empty part when none was), else the pasted text's. */
function importBytes(body: unknown): Uint8Array {
  const file = (body as Record<string, unknown> | undefined)?.file;
  if (Buffer.isBuffer(file) && file.length > 0) return file;
  const raw = (body as Record<string, unknown> | undefined)?.csv;
  const csv = typeof raw === 'string' ? raw : '';
  if (csv.length > IMPORT_MAX) throw tooLarge();
  if (csv.trim() === '')
    throw new SesameError('bulk_empty', 'group import with no file and no text', { variant: 'group' });
  return new TextEncoder().encode(csv);
}

/** Where a groups form asked to come back to: the Groups pages or the Policy page; else the list. */
function backOf(body: unknown): string {
  const raw = (body as Record<string, unknown> | undefined)?.back;
  const path = typeof raw === 'string' ? safeNext(raw, '') : '';
  return path === LIST || path.startsWith(`${LIST}/`) || path === '/admin/policy' ? path : LIST;
}

export function registerGroupsRoutes(
  app: FastifyInstance,
  ctx: Services,
  admin: RouteShorthandOptions,
  adminForm: RouteShorthandOptions,
) {
  const notices = (req: FastifyRequest, m: string | undefined, name: string | undefined) =>
    (
      ({
        created: req.t('groups.notice.created', { name: name ?? '' }),
        saved: req.t('groups.notice.saved'),
        deleted: req.t('groups.notice.deleted', { name: name ?? '' }),
        added: req.t('groups.notice.added', { address: name ?? '' }),
        removed: req.t('groups.notice.removed', { address: name ?? '' }),
        limits: req.t('groups.notice.limits'),
        imported: req.t('groups.notice.imported', { count: name ?? '0' }),
      }) as Record<string, string>
    )[m ?? ''];

  const showList = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: Partial<Parameters<typeof groupsPage>[1]> = {},
    status = 200,
  ) => {
    const actor = actorOf(req);
    const orgId = req.user!.orgId;
    const [groups, limits] = await Promise.all([ctx.groups.list(actor, orgId), ctx.groups.limits(actor, orgId)]);
    return send(reply, groupsPage(pageContext(req, reply, LIST), { groups, limits, ...extra }), status);
  };

  const showGroup = async (
    req: FastifyRequest,
    reply: FastifyReply,
    id: string,
    extra: { notice?: string; error?: string } = {},
    status = 200,
  ) => {
    const actor = actorOf(req);
    const orgId = req.user!.orgId;
    const group = await ctx.groups.get(actor, orgId, id);
    const [members, limits] = await Promise.all([
      ctx.groups.members(actor, orgId, id),
      ctx.groups.limits(actor, orgId),
    ]);
    const apps = await ctx.groups.appsRequiring(actor, orgId, id);
    const requiredFor = [
      ...GROUP_USES.filter((u) => limits[u] === id).map((u) => req.t(`groups.use.${u}`)),
      ...apps.map((a) => a.name),
    ];
    return send(
      reply,
      groupPage(pageContext(req, reply, groupPagePath(id)), { group, members, requiredFor, ...extra }),
      status,
    );
  };

  /** A refusal on the group's page (or the list, when the group itself is not to be found). */
  const refused = async (req: FastifyRequest, reply: FastifyReply, id: string, e: SesameError) => {
    const error = userMessage(req, e);
    if (e.code === 'group_not_found' || id === '') return showList(req, reply, { error }, HTTP_STATUS[e.code]);
    return showGroup(req, reply, id, { error }, HTTP_STATUS[e.code]);
  };

  app.get<{ Querystring: { m?: string; n?: string } }>(LIST, admin, async (req, reply) =>
    showList(req, reply, { notice: notices(req, req.query.m, req.query.n) }),
  );

  app.get<{ Querystring: { id?: string; m?: string; n?: string } }>(`${LIST}/group`, admin, async (req, reply) => {
    const id = String(req.query.id ?? '').slice(0, 64);
    try {
      return await showGroup(req, reply, id, { notice: notices(req, req.query.m, req.query.n) });
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return showList(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  app.post(LIST, adminForm, async (req, reply) => {
    const form = { name: field(req.body, 'name', 300), description: field(req.body, 'description', 1000) };
    try {
      const g = await ctx.groups.create(actorOf(req), req.user!.orgId, form.name, form.description);
      return reply.redirect(withNotice(groupPagePath(g.id), { m: 'created', n: g.name }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return showList(req, reply, { error: userMessage(req, e), form }, HTTP_STATUS[e.code]);
    }
  });

  app.post(`${LIST}/update`, adminForm, async (req, reply) => {
    const id = field(req.body, 'id', 64);
    try {
      await ctx.groups.update(
        actorOf(req),
        req.user!.orgId,
        id,
        field(req.body, 'name', 300),
        field(req.body, 'description', 1000),
      );
      return reply.redirect(withNotice(groupPagePath(id), { m: 'saved' }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return refused(req, reply, id, e);
    }
  });

  app.post(`${LIST}/delete`, adminForm, async (req, reply) => {
    const id = field(req.body, 'id', 64);
    const actor = actorOf(req);
    let group: Group;
    try {
      group = await ctx.groups.get(actor, req.user!.orgId, id);
      if (!confirmed(req.body)) {
        const members = await ctx.groups.members(actor, req.user!.orgId, id);
        return send(
          reply,
          confirmationPage(pageContext(req, reply, groupPagePath(id)), {
            title: req.t('groups.delete.confirm.title', { name: group.name }),
            effects: [req.t('groups.delete.confirm.members', { count: members.length })],
            action: `${LIST}/delete`,
            fields: { id },
            button: req.t('groups.delete'),
            back: groupPagePath(id),
          }),
        );
      }
      await ctx.groups.remove(actor, req.user!.orgId, id);
      return reply.redirect(withNotice(LIST, { m: 'deleted', n: group.name }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return refused(req, reply, id, e);
    }
  });

  app.post(`${LIST}/members/add`, adminForm, async (req, reply) => {
    const id = field(req.body, 'id', 64);
    try {
      const user = await ctx.groups.addMember(actorOf(req), req.user!.orgId, id, field(req.body, 'address', 300));
      return reply.redirect(withNotice(groupPagePath(id), { m: 'added', n: user.address }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return refused(req, reply, id, e);
    }
  });

  app.post(`${LIST}/members/remove`, adminForm, async (req, reply) => {
    const id = field(req.body, 'id', 64);
    const address = field(req.body, 'address', 300);
    const actor = actorOf(req);
    try {
      const group = await ctx.groups.get(actor, req.user!.orgId, id);
      if (!confirmed(req.body)) {
        const limits = await ctx.groups.limits(actor, req.user!.orgId);
        const uses = GROUP_USES.filter((u) => limits[u] === id);
        return send(
          reply,
          confirmationPage(pageContext(req, reply, groupPagePath(id)), {
            title: req.t('groups.member.confirm.title', { address, name: group.name }),
            effects: uses.length
              ? uses.map((u) => req.t('groups.member.confirm.use', { use: req.t(`groups.use.${u}`) }))
              : [req.t('groups.member.confirm.none', { name: group.name })],
            action: `${LIST}/members/remove`,
            fields: { id, address },
            button: req.t('groups.member.remove'),
            back: groupPagePath(id),
          }),
        );
      }
      await ctx.groups.removeMember(actor, req.user!.orgId, id, address);
      return reply.redirect(withNotice(groupPagePath(id), { m: 'removed', n: address }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return refused(req, reply, id, e);
    }
  });

  app.post(`${LIST}/limits`, adminForm, async (req, reply) => {
    const back = backOf(req.body);
    const actor = actorOf(req);
    try {
      for (const use of GROUP_USES) {
        const v = field(req.body, use, 64);
        await ctx.groups.setLimit(actor, req.user!.orgId, use, v === '' ? null : v);
      }
      return reply.redirect(withNotice(back, { m: back === '/admin/policy' ? 'saved' : 'limits' }), 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return showList(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  /**
   * The membership file, pasted (the text box, and the preview's Apply, which sends the text back)
   * or uploaded (multipart, in this scope only, like the Users page's upload). A chosen file wins
   * over the text box, as the form says. The file is shown and applied as text from then on.
   */
  void app.register(async (uploads) => {
    await uploads.register(multipart, {
      attachFieldsToBody: 'keyValues',
      // fieldSize: a longer paste is cut here, but its cut is still over IMPORT_MAX characters
      // (at most 3 bytes a character), so it is refused below, never read short.
      limits: { fileSize: IMPORT_MAX, fieldSize: 1024 * 1024, files: 1, fields: 4, parts: 5 },
    });
    // A file over the limit fails while the body is read, before the session is loaded: say what
    // the limit is, everything else goes to the app's handler.
    uploads.setErrorHandler(async (err, req, reply) => {
      if ((err as { code?: string }).code !== 'FST_REQ_FILE_TOO_LARGE') throw err;
      req.log.info({ code: 'bulk_too_large' }, 'group file over the size limit');
      return send(
        reply,
        messagePage(pageContext(req, reply, LIST), 'page.error.title', userMessage(req, tooLarge()), 'error'),
        HTTP_STATUS.bulk_too_large,
      );
    });
    uploads.post(`${LIST}/import`, adminForm, async (req, reply) => {
      const back = backOf(req.body);
      const actor = actorOf(req);
      try {
        const bytes = importBytes(req.body);
        const rows = membershipRowsFromCsv(bytes);
        // Checked UTF-8 by now; the decoder drops a byte-order mark, as the parser did.
        const csv = new TextDecoder().decode(bytes);
        const plan = await ctx.groups.importMembers(actor, req.user!.orgId, rows, confirmed(req.body));
        if (plan.applied) return reply.redirect(withNotice(back, { m: 'imported', n: String(plan.adds.length) }), 303);
        return send(
          reply,
          importPreviewPage(pageContext(req, reply, back), { plan, csv, back }),
          plan.problems.length ? 400 : 200,
        );
      } catch (e) {
        if (!isSesameError(e)) throw e;
        const id = new URL(back, 'http://sesame.invalid').searchParams.get('id') ?? '';
        return refused(req, reply, id, e);
      }
    });
  });
}
