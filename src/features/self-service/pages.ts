/**
 * Self-service pages: "Forgot your password?", the reset link's first page and its new-password step,
 * Change password, My sessions and My sign-ins. Each takes the page context and plain data; none
 * touches a service.
 */
import type { PasswordChangeEffects } from '../../domain/self-service/self-service.js';
import type { Session } from '../../domain/sessions/session.js';
import { html, type Html } from '../../web/html.js';
import { countryCell, ipAndCountry } from '../../web/countries.js';
import { describedBy, layout, pager, type Notice, type PageContext } from '../../web/layout.js';
import {
  agentName,
  csrfField,
  newPasswordFields,
  passwordEffectsList,
  type SignInLogPage,
  signInAgent,
  signInProtocol,
  signInTime,
  when,
} from '../../web/components.js';
import type { Organization, User } from '../../domain/accounts/model.js';

export function forgotPasswordPage(ctx: PageContext, v: { email?: string } & Notice): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('forgot.title'),
    html`<p>${t('forgot.intro')}</p>
<form method="post" action="/forgot-password" class="card">
  ${csrfField(ctx)}
  <label for="email">${t('signin.email')}</label>
  <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="${v.email ?? ''}" ${describedBy(v.error)} autofocus>
  <button type="submit" class="primary">${t('forgot.submit')}</button>
</form>
<p><a href="/signin">${t('forgot.back')}</a></p>`,
    v,
  );
}

/** The page a reset link opens: nothing is used up until "Continue" (mail scanners follow links). */
export function resetStartPage(ctx: PageContext, v: { token: string; address: string }): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('reset.title'),
    html`<p>${t('reset.intro', { address: v.address })}</p>
<form method="post" action="/reset-password" class="card">
  ${csrfField(ctx)}
  <input type="hidden" name="token" value="${v.token}">
  <button type="submit" class="primary">${t('reset.continue')}</button>
</form>`,
  );
}

export function changePasswordPage(
  ctx: PageContext,
  v: { address: string; effects: PasswordChangeEffects; confirmFirst?: boolean } & Notice,
): Html {
  const { t } = ctx;
  // A user with a method proves it first (recent authentication); Security info's confirm brings them back here.
  if (v.confirmFirst)
    return layout(
      ctx,
      t('pw.title'),
      html`<p>${t('pw.confirm_first')}</p>
<form method="post" action="/security-info/confirm" class="inline">${csrfField(ctx)}<input type="hidden" name="next" value="/account/password"><button type="submit" class="primary">${t('si.confirm')}</button></form>`,
      v,
    );
  return layout(
    ctx,
    t('pw.title'),
    html`${passwordEffectsList(ctx, v.effects, true)}
<form method="post" action="/account/password" class="card">
  ${csrfField(ctx)}
  <label for="current">${t('pw.current')}</label>
  <input id="current" name="current" type="password" autocomplete="current-password" required maxlength="1024" ${describedBy(v.error)}>
  ${newPasswordFields(ctx, v.address, v.error)}
  <button type="submit" class="primary">${t('pw.submit')}</button>
</form>`,
    v,
  );
}

export function mySessionsPage(ctx: PageContext, v: { sessions: Session[]; currentId: string } & Notice): Html {
  const { t } = ctx;
  const rows = v.sessions.map((s) => {
    const current = s.id === v.currentId;
    return html`<tr${current ? html` class="current" aria-current="true"` : ''}>
  <td title="${s.userAgent}">${agentName(ctx, s.userAgent)}<br><span class="hint">${ipAndCountry(ctx, s.ip)}</span></td>
  <td>${t(s.via === 'api' ? 'sessions.via.api' : 'sessions.via.web')}</td>
  <td>${when(ctx, s.createdAt)}</td><td>${when(ctx, s.lastSeenAt)}</td>
  <td>${current ? html`<strong>${t('sessions.current')}</strong>` : html`<form method="post" action="/account/sessions/end" class="inline">${csrfField(ctx)}<input type="hidden" name="id" value="${s.id}"><button type="submit">${t('sessions.end')}</button></form>`}</td>
</tr>`;
  });
  return layout(
    ctx,
    t('sessions.title'),
    html`<p>${t('sessions.intro')}</p>
<table id="sessions">
<thead><tr><th scope="col">${t('sessions.col.where')}</th><th scope="col">${t('sessions.col.via')}</th><th scope="col">${t('sessions.col.started')}</th><th scope="col">${t('sessions.col.last')}</th><th scope="col"><span class="visually-hidden">${t('users.col.actions')}</span></th></tr></thead>
<tbody>${rows}</tbody>
</table>
${v.sessions.length > 1 ? html`<form method="post" action="/account/sessions/end-others" class="inline">${csrfField(ctx)}<button type="submit" class="primary">${t('sessions.end_others')}</button></form>` : ''}`,
    v,
  );
}

export function mySignInsPage(ctx: PageContext, v: SignInLogPage & Notice): Html {
  const { t } = ctx;
  const rows = v.events.map(
    (e) => html`<tr class="${e.outcome}">
  <td>${signInTime(ctx, e)}</td><td class="outcome">${t(`outcome.${e.outcome}`)}</td>
  <td>${signInProtocol(ctx, e)}</td>
  <td>${e.ip}</td><td>${countryCell(ctx, e.ip)}</td>${signInAgent(ctx, e)}
  <td>${e.appPasswordId ? html`<form method="post" action="/account/sign-ins/not-me" class="inline">${csrfField(ctx)}<input type="hidden" name="id" value="${e.id}"><button type="submit">${t('mysignins.not_me')}</button></form>` : ''}</td>
</tr>`,
  );
  return layout(
    ctx,
    t('mysignins.title'),
    html`<p>${t('mysignins.intro')}</p>
${
  v.events.length
    ? html`<table id="my-sign-ins">
<thead><tr><th scope="col">${t('signins.col.time')}</th><th scope="col">${t('signins.col.outcome')}</th><th scope="col">${t('signins.col.protocol')}</th><th scope="col">${t('signins.col.ip')}</th><th scope="col">${t('signins.col.country')}</th><th scope="col">${t('signins.col.agent')}</th><th scope="col"><span class="visually-hidden">${t('users.col.actions')}</span></th></tr></thead>
<tbody>${rows}</tbody>
</table>`
    : html`<p>${t('signins.none')}</p>`
}
${pager(ctx, '/account/sign-ins', {}, v.offset, v.limit, v.total)}`,
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
