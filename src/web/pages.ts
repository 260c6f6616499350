/** The server-rendered pages. Each takes the page context and plain data; none touches a service. */
import type { Organization, User } from '../domain/accounts/model.js';
import type { SignInEvent } from '../domain/audit/events.js';
import { METHOD_KINDS, MFA_STATES, type OrgPolicy } from '../domain/mfa/model.js';
import { PROTOCOLS } from '../domain/app-passwords/model.js';
import type { MessageId } from '../i18n/en.js';
import { html, type Html } from './html.js';
import { describedBy, layout, type PageContext } from './layout.js';

type Notice = { notice?: string; error?: string };

export function signInPage(ctx: PageContext, v: { email?: string; next?: string } & Notice): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('signin.title'),
    html`<p>${t('signin.intro')}</p>
<form method="post" action="/signin" class="card">
  <input type="hidden" name="_csrf" value="${ctx.csrf}">
  ${v.next ? html`<input type="hidden" name="next" value="${v.next}">` : ''}
  <label for="email">${t('signin.email')}</label>
  <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="${v.email ?? ''}" ${describedBy(v.error)} autofocus>
  <label for="password">${t('signin.password')}</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024" ${describedBy(v.error)}>
  <button type="submit" class="primary">${t('signin.submit')}</button>
</form>
<p><a href="/forgot-password" id="forgot-password">${t('signin.forgot')}</a></p>`,
    v,
  );
}

export function accountPage(ctx: PageContext, user: User, org: Organization): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('account.title'),
    html`<dl class="card facts">
  <dt>${t('account.name')}</dt><dd id="account-name">${user.name}</dd>
  <dt>${t('account.address')}</dt><dd>${user.address}</dd>
  <dt>${t('account.organization')}</dt><dd id="account-org">${org.name}</dd>
  <dt>${t('account.role')}</dt><dd>${t(`role.${user.role}`)}</dd>
</dl>
<nav aria-label="${t('account.self')}"><ul class="links">
  <li><a href="/account/password">${t('pw.title')}</a></li>
  <li><a href="/account/sessions">${t('sessions.title')}</a></li>
  <li><a href="/account/sign-ins">${t('mysignins.title')}</a></li>
</ul></nav>`,
  );
}

export function setPasswordPage(ctx: PageContext, v: { token: string; address: string } & Notice): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('setpw.title'),
    html`<p>${t('setpw.intro', { address: v.address })}</p>
<form method="post" action="/set-password" class="card">
  <input type="hidden" name="_csrf" value="${ctx.csrf}">
  <input type="hidden" name="token" value="${v.token}">
  <input type="hidden" name="username" autocomplete="username" value="${v.address}">
  <label for="password">${t('setpw.password')}</label>
  <input id="password" name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="1024" ${describedBy(v.error)}>
  <label for="confirm">${t('setpw.confirm')}</label>
  <input id="confirm" name="confirm" type="password" autocomplete="new-password" required minlength="8" maxlength="1024" ${describedBy(v.error)}>
  <button type="submit" class="primary">${t('setpw.submit')}</button>
</form>`,
    v,
  );
}

export function messagePage(ctx: PageContext, titleId: MessageId, body: string, status: 'notice' | 'error' = 'notice'): Html {
  return layout(ctx, ctx.t(titleId), html`<p class="${status}">${body}</p>`);
}

/** Previous/next links of a paged list. */
export function pager(ctx: PageContext, base: string, params: Record<string, string>, offset: number, limit: number, total: number): Html {
  const link = (o: number) => `${base}?${new URLSearchParams({ ...params, offset: String(o) }).toString()}`;
  return html`<nav class="pager">
  ${offset > 0 ? html`<a href="${link(Math.max(0, offset - limit))}">${ctx.t('pager.previous')}</a>` : ''}
  ${offset + limit < total ? html`<a href="${link(offset + limit)}">${ctx.t('pager.next')}</a>` : ''}
</nav>`;
}

export function signInsPage(ctx: PageContext, v: { events: SignInEvent[]; total: number; offset: number; limit: number; formatTime: (ms: number) => string; filters?: Html; params?: Record<string, string> } & Notice): Html {
  const { t } = ctx;
  const rows = v.events.map(
    (e) => html`<tr class="${e.outcome}">
  <td>${v.formatTime(e.at)}</td><td>${e.addressTyped}</td><td>${t(`outcome.${e.outcome}`)}</td><td><code>${e.reason}</code></td><td>${e.protocol}${e.appPasswordName ? html`<br><span class="ap-name">${e.appPasswordName}</span>` : e.appPasswordId ? html`<br><span class="ap-name">(${t('signins.deleted_ap')})</span>` : ''}</td><td>${e.ip}</td><td class="agent">${e.userAgent}</td>
</tr>`,
  );
  return layout(
    ctx,
    t('signins.title'),
    html`${v.filters ?? ''}<p>${t('signins.count', { total: v.total })}</p>
${v.events.length
  ? html`<table>
<thead><tr><th scope="col">${t('signins.col.time')}</th><th scope="col">${t('signins.col.address')}</th><th scope="col">${t('signins.col.outcome')}</th><th scope="col">${t('signins.col.reason')}</th><th scope="col">${t('signins.col.protocol')}</th><th scope="col">${t('signins.col.ip')}</th><th scope="col">${t('signins.col.agent')}</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
  : html`<p>${t('signins.none')}</p>`}
${pager(ctx, '/admin/sign-ins', v.params ?? {}, v.offset, v.limit, v.total)}`,
    v,
  );
}

export function policyPage(ctx: PageContext, v: { policy: OrgPolicy } & Notice): Html {
  const { t } = ctx;
  const p = v.policy;
  return layout(
    ctx,
    t('policy.title'),
    html`<form method="post" action="/admin/policy" class="card">
  <input type="hidden" name="_csrf" value="${ctx.csrf}">
  <label for="mfa-default">${t('policy.mfa_default')}</label>
  <select id="mfa-default" name="mfaDefault">${MFA_STATES.map((st) => html`<option value="${st}" ${p.mfaDefault === st ? html`selected` : ''}>${t(`mfa.state.${st}`)}</option>`)}</select>
  <fieldset><legend>${t('policy.methods')}</legend>
  ${METHOD_KINDS.map((k) => html`<label class="check"><input type="checkbox" name="methods" value="${k}" ${p.allowedMethods.includes(k) ? html`checked` : ''}> ${t(`mfa.kind.${k}`)}</label>`)}
  </fieldset>
  <label for="remember">${t('policy.remember')}</label>
  <input id="remember" name="rememberDays" type="number" min="0" max="365" required value="${p.rememberDays}">
  <label class="check"><input type="checkbox" name="legacyMainNever" value="1" ${p.legacyMainPassword === 'never' ? html`checked` : ''}> ${t('policy.legacy_main_never')}</label>
  <fieldset><legend>${t('policy.ap')}</legend>
  <label class="check"><input type="checkbox" name="apAllowed" value="1" ${p.appPasswords.allowed ? html`checked` : ''}> ${t('policy.ap.allowed')}</label>
  <label class="check"><input type="checkbox" name="apKeep" value="1" ${p.appPasswords.keepExistingWhenOff ? html`checked` : ''}> ${t('policy.ap.keep')}</label>
  <label for="ap-cap">${t('policy.ap.cap')}</label>
  <input id="ap-cap" name="apCap" type="number" min="1" max="200" required value="${p.appPasswords.cap}">
  <p>${t('policy.ap.protocols')}</p>
  ${PROTOCOLS.map((k) => html`<label class="check"><input type="checkbox" name="apProtocols" value="${k}" ${p.appPasswords.protocols.includes(k) ? html`checked` : ''}> ${k.toUpperCase()}</label>`)}
  <label for="ap-max">${t('policy.ap.max_days')}</label>
  <input id="ap-max" name="apMaxDays" type="number" min="1" max="3650" value="${p.appPasswords.maxLifetimeDays ?? ''}">
  <label for="ap-unused">${t('policy.ap.unused_days')}</label>
  <input id="ap-unused" name="apUnusedDays" type="number" min="1" max="3650" value="${p.appPasswords.revokeUnusedDays ?? ''}">
  <label class="check"><input type="checkbox" name="apRevokeOnChange" value="1" ${p.appPasswords.revokeOnPasswordChange ? html`checked` : ''}> ${t('policy.ap.revoke_on_change')}</label>
  </fieldset>
  <button type="submit" class="primary">${t('policy.save')}</button>
</form>`,
    v,
  );
}
