/**
 * Admins register their organization's browser apps (OIDC clients): the web page /admin/apps and
 * the JSON API under /api/v1/oidc/clients. Rights are checked per organization on every call by the
 * domain (OidcClients). On the page, adding is post/redirect/get: a confidential client's secret is
 * shown once by the page the POST redirects to (web/one-time.ts), and the form's one-time nonce makes
 * a repeated post add nothing more; removing asks first, saying that the app's sign-ins stop. The
 * API answers with the secret in the response that made the client.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { User } from '../../domain/accounts/model.js';
import { isSesameError, SesameError } from '../../domain/errors.js';
import type { OidcClient } from '../../domain/oidc/clients.js';
import type { Session } from '../../domain/sessions/session.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { when } from '../../web/components.js';
import { html, type Html } from '../../web/html.js';
import { describedBy, layout, type PageContext } from '../../web/layout.js';
import { errors, iso, secured } from '../../web/api.js';
import type { WebSettings } from '../../web/cookies.js';
import { confirmationPage, confirmed } from '../../web/components.js';
import { field } from '../../web/forms.js';
import { oneTimeDisplay } from '../../web/one-time.js';
import { actorOf, bearerAuth, requireUser } from '../../web/guards.js';
import { oidcIssuer } from '../../web/links.js';
import { PAGE_ROUTE, pageContext, send, userMessage } from '../../web/respond.js';
import type { Services } from '../../web/services.js';

/** The Browser apps page: the discovery URL, the organization's apps, and the form that adds one. */
export function appsPage(
  ctx: PageContext,
  v: {
    issuer: string;
    clients: OidcClient[];
    created?: { client: OidcClient; secret?: string };
    notice?: string;
    error?: string;
    /** The add form's one-time nonce (a repeated post of the same form adds nothing more). */
    nonce: string;
    /** The organization's groups, and the group each app requires (by client id; absent: everyone). */
    groups?: { groups: { id: string; name: string }[]; required: Record<string, string | null> };
  },
): Html {
  const { t } = ctx;
  const rows = v.clients.map(
    (c) => html`<tr>
  <td>${c.name}</td><td><code>${c.id}</code></td>
  <td>${c.redirectUris.map((u) => html`<code>${u}</code><br>`)}</td>
  <td>${t(`apps.kind.${c.kind}.short`)}</td>
  <td>${c.requireMfa ? t('apps.mfa.always') : t('apps.mfa.user')}</td>
  <td>${groupForm(ctx, c, v.groups)}</td>
  <td>${when(ctx, c.createdAt)}</td>
  <td><form method="post" action="/admin/apps/remove" class="inline"><input type="hidden" name="_csrf" value="${ctx.csrf}"><input type="hidden" name="id" value="${c.id}"><button type="submit">${t('apps.remove')}</button></form></td>
</tr>`,
  );
  const created = v.created
    ? html`<div class="card" id="created-client" role="status">
  <p>${t('apps.added', { name: v.created.client.name, id: v.created.client.id })}</p>
  ${v.created.secret ? html`<p>${t('apps.secret')}</p><p><code id="client-secret">${v.created.secret}</code></p>` : ''}
</div>`
    : '';
  return layout(
    ctx,
    t('apps.title'),
    html`<p>${t('apps.intro')}</p>
<p>${t('apps.discovery')}: <code id="discovery-url">${v.issuer}/.well-known/openid-configuration</code></p>
${created}
${
  v.clients.length === 0
    ? html`<p>${t('apps.none')}</p>`
    : html`<table id="apps"><thead><tr><th>${t('apps.name')}</th><th>${t('apps.client_id')}</th><th>${t('apps.redirect_uris')}</th><th>${t('apps.kind')}</th><th>${t('apps.mfa')}</th><th>${t('groups.app.column')}</th><th><span class="visually-hidden">${t('users.col.actions')}</span></th><th><span class="visually-hidden">${t('users.col.actions')}</span></th></tr></thead><tbody>${rows}</tbody></table>`
}
<h2>${t('apps.add')}</h2>
<form method="post" action="/admin/apps" class="card">
  <input type="hidden" name="_csrf" value="${ctx.csrf}">
  <input type="hidden" name="nonce" value="${v.nonce}">
  <label for="app-name">${t('apps.name')}</label>
  <input id="app-name" name="name" required maxlength="100">
  <label for="app-uris">${t('apps.redirect_uris')}</label>
  <textarea id="app-uris" name="redirectUris" rows="3" required maxlength="5100" ${describedBy(v.error, 'app-uris-help')}></textarea>
  <p id="app-uris-help" class="help">${t('apps.redirect_uris.help')}</p>
  <fieldset><legend>${t('apps.kind')}</legend>
    <label><input type="radio" name="kind" value="confidential" checked> ${t('apps.kind.confidential')}</label>
    <label><input type="radio" name="kind" value="public"> ${t('apps.kind.public')}</label>
  </fieldset>
  <label><input type="checkbox" name="requireMfa" value="1"> ${t('apps.require_mfa')}</label>
  <button type="submit" class="primary">${t('apps.add')}</button>
</form>`,
    v,
  );
}

/** Who may sign in to the app: everyone of the organization, or a group's members (issue #19). */
function groupForm(
  ctx: PageContext,
  c: OidcClient,
  g: { groups: { id: string; name: string }[]; required: Record<string, string | null> } | undefined,
): Html {
  if (!g) return html``;
  const current = g.required[c.id] ?? null;
  return html`<form method="post" action="/admin/apps/group" class="inline"><input type="hidden" name="_csrf" value="${ctx.csrf}"><input type="hidden" name="id" value="${c.id}">
<label for="app-group-${c.id}" class="visually-hidden">${ctx.t('groups.app.label', { name: c.name })}</label>
<select id="app-group-${c.id}" name="group"><option value="">${ctx.t('groups.limits.everyone')}</option>${g.groups.map((x) => html`<option value="${x.id}"${current === x.id ? html` selected` : ''}>${x.name}</option>`)}</select>
<button type="submit">${ctx.t('groups.app.save')}<span class="visually-hidden"> ${c.name}</span></button></form>`;
}

type SignedIn = FastifyRequest & { user: User; session: Session };

export function registerOidcAdminRoutes(app: FastifyInstance, ctx: Services, web: WebSettings) {
  const issuer = oidcIssuer(ctx.config.publicUrl);
  // Signed in, or off to sign in; whether an admin is decided by the domain (per organization, with a second factor).
  const signedIn = requireUser(web, { back: '/admin/apps' });
  const page = { ...PAGE_ROUTE, preHandler: signedIn };
  const form = { ...PAGE_ROUTE, preHandler: [app.csrfProtection, signedIn] };
  const shown = oneTimeDisplay(ctx.secrets, web, ctx.clock);

  async function render(
    req: SignedIn,
    reply: FastifyReply,
    extra: { created?: { client: OidcClient; secret?: string }; notice?: string; error?: string } = {},
    status = 200,
  ) {
    const actor = actorOf(req);
    try {
      const clients = await ctx.oidc.clients.list(actor, req.user.orgId);
      const nonce = randomBytes(18).toString('base64url');
      const groups = {
        groups: await ctx.groups.list(actor, req.user.orgId),
        required: Object.fromEntries(
          await Promise.all(
            clients.map(async (c) => [c.id, await ctx.groups.appGroup(actor, req.user.orgId, c.id)] as const),
          ),
        ),
      };
      return send(
        reply,
        appsPage(pageContext(req, reply, '/admin/apps'), { issuer, clients, nonce, groups, ...extra }),
        status,
      );
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return send(
        reply,
        layout(pageContext(req, reply, '/admin/apps'), req.t('page.forbidden.title'), html``, {
          error: userMessage(req, e),
        }),
        HTTP_STATUS[e.code],
      );
    }
  }

  app.get<{ Querystring: { m?: string; id?: string } }>('/admin/apps', page, async (r, reply) => {
    const req = r as SignedIn;
    const q = r.query;
    if (q.m === 'added' && q.id) {
      const id = String(q.id).slice(0, 64);
      const client = (await ctx.oidc.clients.list(actorOf(req), req.user.orgId).catch(() => [])).find(
        (c) => c.id === id,
      );
      if (client) {
        const secret = shown.take(req, reply, req.session, `oidc-client:${id}`);
        if (typeof secret === 'string' || client.kind === 'public')
          return render(req, reply, { created: { client, secret: typeof secret === 'string' ? secret : undefined } });
        return render(req, reply, { notice: req.t('apps.added_shown', { name: client.name, id: client.id }) });
      }
    }
    const notice = q.m === 'removed' ? req.t('apps.removed') : q.m === 'group' ? req.t('groups.app.saved') : undefined;
    return render(req, reply, { notice });
  });

  app.post('/admin/apps', form, async (r, reply) => {
    const req = r as SignedIn;
    try {
      const made = await ctx.oidc.clients.add(actorOf(req), req.user.orgId, {
        name: field(req.body, 'name', 300),
        redirectUris: field(req.body, 'redirectUris', 5100).split(/\r?\n/),
        kind: field(req.body, 'kind', 20),
        requireMfa: field(req.body, 'requireMfa', 2) === '1',
        formNonce: field(req.body, 'nonce', 64),
      });
      // Post/redirect/get: the secret waits, sealed to this session, for the page that shows it once.
      if (made.secret !== undefined) shown.keep(reply, req.session, `oidc-client:${made.client.id}`, made.secret);
      return reply.redirect(`/admin/apps?${new URLSearchParams({ m: 'added', id: made.client.id })}`, 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return render(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  app.post('/admin/apps/group', form, async (r, reply) => {
    const req = r as SignedIn;
    try {
      const group = field(req.body, 'group', 64);
      await ctx.groups.setAppGroup(
        actorOf(req),
        req.user.orgId,
        field(req.body, 'id', 64),
        group === '' ? null : group,
      );
      return reply.redirect('/admin/apps?m=group', 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return render(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });

  app.post('/admin/apps/remove', form, async (r, reply) => {
    const req = r as SignedIn;
    try {
      const id = field(req.body, 'id', 64);
      if (!confirmed(req.body)) {
        const client = (await ctx.oidc.clients.list(actorOf(req), req.user.orgId)).find((c) => c.id === id);
        if (!client) throw new SesameError('oidc_client_not_found', 'no such app in this organization');
        return send(
          reply,
          confirmationPage(pageContext(req, reply, '/admin/apps'), {
            title: req.t('apps.confirm_remove.title', { name: client.name }),
            effects: [req.t('apps.confirm_remove.signins'), req.t('apps.confirm_remove.tokens')],
            action: '/admin/apps/remove',
            fields: { id },
            button: req.t('apps.remove'),
            back: '/admin/apps',
          }),
        );
      }
      await ctx.oidc.clients.remove(actorOf(req), req.user.orgId, id);
      return reply.redirect('/admin/apps?m=removed', 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      return render(req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
    }
  });
}

const clientSchema = {
  type: 'object',
  properties: {
    clientId: { type: 'string' },
    name: { type: 'string' },
    redirectUris: { type: 'array', items: { type: 'string' } },
    kind: { type: 'string', enum: ['confidential', 'public'] },
    requireMfa: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
    clientSecret: {
      type: 'string',
      description: 'Only in the answer that created a confidential client; never shown again.',
    },
  },
  required: ['clientId', 'name', 'redirectUris', 'kind', 'requireMfa', 'createdAt'],
} as const;

function clientOut(c: OidcClient, secret?: string) {
  return {
    clientId: c.id,
    name: c.name,
    redirectUris: c.redirectUris,
    kind: c.kind,
    requireMfa: c.requireMfa,
    createdAt: iso(c.createdAt),
    ...(secret ? { clientSecret: secret } : {}),
  };
}

/**
 * The JSON API of the client registry, in the caller's organization: GET and POST
 * /api/v1/oidc/clients, DELETE /api/v1/oidc/clients/{clientId}. The bearer token's session must have proved a second factor (admins).
 */
export function registerOidcClientApi(api: FastifyInstance, ctx: Services) {
  const authenticate = bearerAuth(ctx);
  api.get(
    '/oidc/clients',
    {
      schema: {
        tags: ['oidc'],
        summary: 'The browser apps (OpenID Connect clients) of your organization.',
        security: secured,
        response: {
          200: {
            type: 'object',
            properties: { issuer: { type: 'string' }, clients: { type: 'array', items: clientSchema } },
          },
          ...errors,
        },
      },
    },
    async (req) => {
      const { user, actor } = await authenticate(req);
      return {
        issuer: oidcIssuer(ctx.config.publicUrl),
        clients: (await ctx.oidc.clients.list(actor, user.orgId)).map((c) => clientOut(c)),
      };
    },
  );

  api.post<{ Body: { name: string; redirectUris: string[]; kind: string; requireMfa?: boolean } }>(
    '/oidc/clients',
    {
      schema: {
        tags: ['oidc'],
        summary: 'Registers a browser app; a confidential one gets a client secret, returned only in this answer.',
        security: secured,
        body: {
          type: 'object',
          properties: {
            name: { type: 'string', maxLength: 100 },
            redirectUris: { type: 'array', items: { type: 'string', maxLength: 500 }, minItems: 1, maxItems: 10 },
            kind: { type: 'string', enum: ['confidential', 'public'] },
            requireMfa: { type: 'boolean' },
          },
          required: ['name', 'redirectUris', 'kind'],
          additionalProperties: false,
        },
        response: { 201: clientSchema, ...errors },
      },
    },
    async (req, reply) => {
      const { user, actor } = await authenticate(req);
      const { client, secret } = await ctx.oidc.clients.add(actor, user.orgId, req.body);
      return reply.code(201).header('cache-control', 'no-store').send(clientOut(client, secret));
    },
  );

  api.delete<{ Params: { clientId: string } }>(
    '/oidc/clients/:clientId',
    {
      schema: {
        tags: ['oidc'],
        summary: 'Removes a browser app; its tokens stop working.',
        security: secured,
        params: { type: 'object', properties: { clientId: { type: 'string', maxLength: 64 } }, required: ['clientId'] },
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (req, reply) => {
      const { user, actor } = await authenticate(req);
      await ctx.oidc.clients.remove(actor, user.orgId, req.params.clientId);
      return reply.code(204).send();
    },
  );
}
