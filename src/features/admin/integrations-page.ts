/**
 * GET /admin/integrations: the mail servers and proxies that ask Sesame about passwords (issue #16,
 * item 5). Integrations are global (shared by every organization) and only the operator's CLI adds
 * or removes their keys, while a web admin is an admin of one organization: so the page only
 * shows them, with what each last sent (time, endpoint, service: never a user name or a client
 * address, which could be another organization's user) and its last configuration error.
 */
import type { FastifyInstance, RouteShorthandOptions } from 'fastify';
import type { Integration } from '../../domain/legacy/integrations.js';
import { when } from '../../web/components.js';
import { html, type Html } from '../../web/html.js';
import { layout, type PageContext } from '../../web/layout.js';
import { pageContext, send } from '../../web/respond.js';
import type { Services } from '../../web/services.js';

export function integrationsPage(ctx: PageContext, integrations: Integration[]): Html {
  const { t } = ctx;
  const time = ctx.time.at;
  const rows = integrations.map((i) => {
    const s = i.lastSeen;
    const seen = s
      ? html`${t('integrations.seen', { time: time(s.at), endpoint: s.endpoint })}${s.service !== undefined ? html`, ${t('integrations.service', { service: s.service })}` : ''}${s.outcome === 'config_error' ? html` (${t('integrations.outcome.config_error')})` : ''}`
      : t('integrations.never');
    const error = i.lastConfigError
      ? html`${time(i.lastConfigError.at)}: ${i.lastConfigError.detail}`
      : t('integrations.no_error');
    return html`<tr><th scope="row">${i.name}</th><td>${when(ctx, i.createdAt)}</td><td>${seen}</td><td>${error}</td></tr>`;
  });
  return layout(
    ctx,
    t('integrations.title'),
    html`<p>${t('integrations.intro')}</p>
<p id="integrations-cli">${t('integrations.cli')} <code>sesame integration add &lt;name&gt;</code>, <code>sesame integration remove &lt;name&gt;</code>, <code>sesame integration check &lt;name&gt;</code>.</p>
${
  integrations.length
    ? html`<table id="integration-list">
<caption>${t('integrations.caption')}</caption>
<thead><tr><th scope="col">${t('integrations.col.name')}</th><th scope="col">${t('integrations.col.added')}</th><th scope="col">${t('integrations.col.seen')}</th><th scope="col">${t('integrations.col.error')}</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
    : html`<p id="integration-list">${t('integrations.none')}</p>`
}`,
  );
}

/** Registered by routes.ts with its admin guard (an admin of an organization, with a second factor). */
export function registerIntegrationsPage(app: FastifyInstance, ctx: Services, admin: RouteShorthandOptions) {
  app.get('/admin/integrations', admin, async (req, reply) =>
    send(reply, integrationsPage(pageContext(req, reply), await ctx.integrations.list())),
  );
}
