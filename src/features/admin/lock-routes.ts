/**
 * Lifting sign-in locks from the console: a user's (Users page, "Lift sign-in locks") and a client
 * IP's (the Sign-in log lists the IPs a lock refused in this organization today that are still
 * locked, each with "Lift"). Both answer post/redirect/get; both are in the audit log.
 */
import type { FastifyInstance, RouteShorthandOptions } from 'fastify';
import { isSesameError } from '../../domain/errors.js';
import type { IpLock } from '../../domain/throttling/lock-admin.js';
import { html, type Html } from '../../web/html.js';
import { field } from '../../web/forms.js';
import { actorOf } from '../../web/guards.js';
import type { PageContext } from '../../web/layout.js';
import { ipAndCountry } from '../../web/countries.js';
import type { Services } from '../../web/services.js';

/** The Sign-in log's "Locked client IPs" section (nothing when none is locked). */
export function lockedIpsSection(ctx: PageContext, locked: IpLock[]): Html {
  if (locked.length === 0) return html``;
  const { t } = ctx;
  return html`<section class="card" aria-labelledby="locked-ips">
<h2 id="locked-ips">${t('locks.ips.title')}</h2>
<p>${t('locks.ips.help')}</p>
<table><thead><tr><th scope="col">${t('signins.col.ip')}</th><th scope="col">${t('locks.ips.remaining')}</th><th scope="col">${t('users.col.actions')}</th></tr></thead>
<tbody>${locked.map(
    (
      l,
    ) => html`<tr><td>${ipAndCountry(ctx, l.ip)}</td><td>${t('locks.minutes', { minutes: Math.max(1, Math.ceil(l.seconds / 60)) })}</td>
<td><form method="post" action="/admin/locks/ip" class="inline"><input type="hidden" name="_csrf" value="${ctx.csrf}"><input type="hidden" name="ip" value="${l.ip}"><button type="submit">${t('locks.lift', { ip: l.ip })}</button></form></td></tr>`,
  )}</tbody></table>
</section>`;
}

export function registerLockRoutes(app: FastifyInstance, ctx: Services, adminForm: RouteShorthandOptions) {
  app.post('/admin/locks/ip', adminForm, async (req, reply) => {
    const ip = field(req.body, 'ip', 64);
    try {
      await ctx.locks.liftForIp(actorOf(req), req.user!.orgId, ip);
      return reply.redirect(`/admin/sign-ins?${new URLSearchParams({ m: 'ip_lifted', ip })}`, 303);
    } catch (e) {
      if (!isSesameError(e)) throw e;
      // The message is chosen here from the code, never carried in the address (a crafted link could word it).
      return reply.redirect(`/admin/sign-ins?${new URLSearchParams({ m: 'ip_not_lifted', ip })}`, 303);
    }
  });
}
