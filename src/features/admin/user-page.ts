/**
 * The admin's page of one user (#17, item 4): who they are and their MFA state, their sign-in
 * methods, app passwords, live sessions and recent sign-ins, and every action on them (the Users
 * table keeps only a link here). Takes plain data and touches no service, like every page.
 */
import type { User } from '../../domain/accounts/model.js';
import type { AppPassword } from '../../domain/app-passwords/model.js';
import type { Group } from '../../domain/groups/model.js';
import type { SignInEvent } from '../../domain/audit/events.js';
import { MFA_STATES, type MfaMethod } from '../../domain/mfa/model.js';
import type { Session } from '../../domain/sessions/session.js';
import type { AccountLocks } from '../../domain/throttling/lock-admin.js';
import { countryCell, ipAndCountry } from '../../web/countries.js';
import {
  agentName,
  appPasswordUse,
  COPY_SCRIPT,
  copyButton,
  csrfField,
  methodName,
  pinChoice,
  type PinPlace,
  pinText,
  postForm,
  protocolList,
  signInAgent,
  signInProtocol,
  signInReason,
  signInTime,
  when,
} from '../../web/components.js';
import { html, type Html } from '../../web/html.js';
import { layout, type Notice, type PageContext } from '../../web/layout.js';

/** The path of a user's page: addresses go in the query string. */
export const userPagePath = (address: string) => `/admin/users/user?${new URLSearchParams({ address })}`;

/** The page where an admin chooses where one of a user's app passwords may be used from (issue #20). */
export const appPasswordWherePath = (address: string, id: string) =>
  `/admin/users/app-passwords/where?${new URLSearchParams({ address, id })}`;

/** A set-password link just made on the page, shown once. */
export interface MadeLink {
  url: string;
  expires: string;
  mailed: 'no' | 'sent' | 'failed';
}

export interface UserPageData {
  user: User;
  methods: MfaMethod[];
  recoveryCodesLeft: number;
  appPasswords: AppPassword[];
  /** The organization's named locations, for what each app password's pin says (issue #20). */
  places: readonly PinPlace[];
  sessions: Session[];
  signIns: SignInEvent[];
  locks: AccountLocks;
  /** The groups the user is a member of (domain/groups). */
  groups: Group[];
  /** Whether email can be sent at all (the set-password link's "also send it" is offered only then). */
  canMail: boolean;
  link?: MadeLink;
}

/** The lock that holds longest, in minutes (0: none). */
function lockedMinutes(l: AccountLocks): number {
  return Math.ceil(Math.max(l.mainPassword.familiar, l.mainPassword.unfamiliar, l.secondFactor) / 60);
}

/** A one-button action on this user that comes back to this page. */
function action(ctx: PageContext, path: string, u: User, label: string, id: string): Html {
  return postForm(
    ctx,
    path,
    html`<input type="hidden" name="address" value="${u.address}"><input type="hidden" name="back" value="${userPagePath(u.address)}"><button type="submit" id="${id}">${label}</button>`,
    'inline',
  );
}

function linkShown(ctx: PageContext, u: User, link: MadeLink): Html {
  const { t } = ctx;
  return html`<div class="notice" role="status" id="set-password-made">
<p>${t('users.page.link.made', { address: u.address, expires: link.expires })}</p>
<div class="app-password"><code id="set-password-link">${link.url}</code>
${copyButton(ctx, 'set-password-link')}
<span class="copied" role="status" aria-live="polite"></span></div>
${link.mailed === 'sent' ? html`<p id="set-password-mailed">${t('users.page.link.mailed', { address: u.address })}</p>` : ''}
${link.mailed === 'failed' ? html`<p class="error" id="set-password-mail-failed">${t('users.page.link.mail_failed')}</p>` : ''}
</div>
${COPY_SCRIPT}`;
}

function overview(ctx: PageContext, v: UserPageData): Html {
  const { t } = ctx;
  const u = v.user;
  const minutes = lockedMinutes(v.locks);
  return html`<section aria-labelledby="user-overview-h"><h2 id="user-overview-h">${t('users.page.overview')}</h2>
<dl class="card facts" id="user-overview">
  <dt>${t('users.col.name')}</dt><dd>${u.name}</dd>
  <dt>${t('users.col.address')}</dt><dd id="user-address">${u.address}</dd>
  <dt>${t('users.col.role')}</dt><dd>${t(`role.${u.role}`)}</dd>
  <dt>${t('users.col.status')}</dt><dd id="user-status">${t(`status.${u.status}`)}</dd>
  <dt>${t('users.col.mfa')}</dt><dd><span id="user-mfa">${t(`mfa.state.${u.mfaState}`)}</span>
    <form method="post" action="/admin/users/mfa" class="inline">${csrfField(ctx)}<input type="hidden" name="address" value="${u.address}"><input type="hidden" name="back" value="${userPagePath(u.address)}">
    <select name="state" aria-label="${t('users.col.mfa')}">${MFA_STATES.map((st) => html`<option value="${st}" ${u.mfaState === st ? html`selected` : ''}>${t(`mfa.state.${st}`)}</option>`)}</select>
    <button type="submit">${t('users.mfa.apply')}</button></form></dd>
  <dt>${t('users.page.created')}</dt><dd>${when(ctx, u.createdAt)}</dd>
  <dt>${t('users.page.password')}</dt><dd>${u.passwordChangedAt === null ? t('users.page.password.never') : when(ctx, u.passwordChangedAt)}</dd>
  <dt>${t('users.page.locks')}</dt><dd id="user-locks">${minutes ? t('users.page.locked', { minutes }) : t('users.page.locks.none')}</dd>
</dl></section>`;
}

function methods(ctx: PageContext, v: UserPageData): Html {
  const { t } = ctx;
  return html`<section aria-labelledby="user-methods-h"><h2 id="user-methods-h">${t('users.page.methods')}</h2>
${
  v.methods.length
    ? html`<table id="user-methods"><thead><tr><th scope="col">${t('users.col.methods')}</th><th scope="col">${t('users.page.created')}</th><th scope="col">${t('ap.col.used')}</th></tr></thead>
<tbody>${v.methods.map((m) => html`<tr><td>${methodName(ctx, m)}</td><td>${when(ctx, m.createdAt)}</td><td>${m.lastUsedAt ? when(ctx, m.lastUsedAt) : t('ap.never')}</td></tr>`)}</tbody></table>`
    : html`<p id="user-methods">${t('users.reregister.confirm.none', { address: v.user.address })}</p>`
}
<p id="user-recovery-codes">${t('users.page.codes', { count: v.recoveryCodesLeft })}</p></section>`;
}

function appPasswords(ctx: PageContext, v: UserPageData): Html {
  const { t } = ctx;
  const u = v.user;
  const rows = v.appPasswords.map(
    (p) =>
      html`<tr><td class="ap-name">${p.name}</td><td>${when(ctx, p.createdAt)}</td><td>${appPasswordUse(ctx, p)}</td><td>${p.expiresAt ? when(ctx, p.expiresAt) : t('ap.never')}</td><td>${protocolList(p.protocols)}</td><td class="ap-where">${pinText(ctx, p.pin, v.places)}</td><td><a href="${appPasswordWherePath(u.address, p.id)}" class="where">${t('ap.where.change')}<span class="visually-hidden"> ${p.name}</span></a></td></tr>`,
  );
  return html`<section aria-labelledby="user-ap-h"><h2 id="user-ap-h">${t('users.col.ap')}</h2>
${
  v.appPasswords.length
    ? html`<table id="app-password-list"><thead><tr><th scope="col">${t('ap.col.name')}</th><th scope="col">${t('ap.col.created')}</th><th scope="col">${t('ap.col.used')}</th><th scope="col">${t('ap.col.expires')}</th><th scope="col">${t('ap.col.protocols')}</th><th scope="col">${t('ap.col.where')}</th><th scope="col"><span class="visually-hidden">${t('users.col.actions')}</span></th></tr></thead><tbody>${rows}</tbody></table>
${action(ctx, '/admin/users/app-passwords/revoke-all', u, t('ap.admin.revoke_all'), 'revoke-all')}`
    : html`<p id="app-password-list">${t('ap.admin.none', { address: u.address })}</p>`
}</section>`;
}

function sessions(ctx: PageContext, v: UserPageData): Html {
  const { t } = ctx;
  return html`<section aria-labelledby="user-sessions-h"><h2 id="user-sessions-h">${t('users.page.sessions')}</h2>
${
  v.sessions.length
    ? html`<table id="user-sessions"><thead><tr><th scope="col">${t('sessions.col.where')}</th><th scope="col">${t('sessions.col.via')}</th><th scope="col">${t('sessions.col.started')}</th><th scope="col">${t('sessions.col.last')}</th></tr></thead>
<tbody>${v.sessions.map((s) => html`<tr><td>${agentName(ctx, s.userAgent)}<br><span class="hint">${ipAndCountry(ctx, s.ip)}</span></td><td>${t(s.via === 'api' ? 'sessions.via.api' : 'sessions.via.web')}</td><td>${when(ctx, s.createdAt)}</td><td>${when(ctx, s.lastSeenAt)}</td></tr>`)}</tbody></table>`
    : html`<p id="user-sessions">${t('users.page.sessions.none')}</p>`
}</section>`;
}

function signIns(ctx: PageContext, v: UserPageData): Html {
  const { t } = ctx;
  const all = `/admin/sign-ins?${new URLSearchParams({ user: v.user.address })}`;
  return html`<section aria-labelledby="user-signins-h"><h2 id="user-signins-h">${t('users.page.signins')}</h2>
${
  v.signIns.length
    ? html`<table id="user-sign-ins"><thead><tr><th scope="col">${t('signins.col.time')}</th><th scope="col">${t('signins.col.outcome')}</th><th scope="col">${t('signins.col.reason')}</th><th scope="col">${t('signins.col.protocol')}</th><th scope="col">${t('signins.col.ip')}</th><th scope="col">${t('signins.col.country')}</th><th scope="col">${t('signins.col.agent')}</th></tr></thead>
<tbody>${v.signIns.map((e) => html`<tr class="${e.outcome}"><td>${signInTime(ctx, e)}</td><td class="outcome">${t(`outcome.${e.outcome}`)}</td><td>${signInReason(ctx, e)}</td><td>${signInProtocol(ctx, e)}</td><td>${e.ip}</td><td>${countryCell(ctx, e.ip)}</td>${signInAgent(ctx, e)}</tr>`)}</tbody></table>`
    : html`<p id="user-sign-ins">${t('signins.none')}</p>`
}
<p><a href="${all}" id="all-sign-ins">${t('users.page.signins.all', { address: v.user.address })}</a></p></section>`;
}

function actions(ctx: PageContext, v: UserPageData): Html {
  const { t } = ctx;
  const u = v.user;
  const self = u.id === ctx.user?.id;
  const linkForm =
    u.status === 'disabled'
      ? html`<p id="set-password-disabled">${t('users.page.link.disabled', { address: u.address })}</p>`
      : postForm(
          ctx,
          '/admin/users/set-password-link',
          html`<h3>${t('users.page.link')}</h3>
<p>${t('users.page.link.help', { address: u.address })}</p>
<input type="hidden" name="address" value="${u.address}">
${
  v.canMail
    ? html`<label class="check"><input type="checkbox" name="mail" value="1" id="set-password-mail"> ${t('users.page.link.mail', { address: u.address })}</label>`
    : html`<p class="hint" id="set-password-no-mail">${t('users.page.link.no_mail')}</p>`
}
<button type="submit" id="set-password-make">${t('users.page.link')}</button>`,
        );
  return html`<section aria-labelledby="user-actions-h"><h2 id="user-actions-h">${t('users.page.actions')}</h2>
<div class="actions" id="user-actions">
${self ? '' : u.status === 'active' ? action(ctx, '/admin/users/disable', u, t('users.disable'), 'action-disable') : action(ctx, '/admin/users/enable', u, t('users.enable'), 'action-enable')}
${action(ctx, '/admin/users/reregister', u, t('users.reregister'), 'action-reregister')}
${action(ctx, '/admin/users/lift-locks', u, t('locks.lift_user'), 'action-lift-locks')}
${action(ctx, '/admin/users/end-sessions', u, t('users.endsessions'), 'action-end-sessions')}
${action(ctx, '/admin/users/reset-link', u, t('users.reset_link'), 'action-reset-link')}
</div>
<p class="hint">${t('users.page.reset.help')}</p>
${linkForm}</section>`;
}

/** The groups the user is in, each a link to its page. */
function groupsOf(ctx: PageContext, v: UserPageData): Html {
  const { t } = ctx;
  return html`<section aria-labelledby="user-groups-h"><h2 id="user-groups-h">${t('groups.user.title')}</h2>
${
  v.groups.length
    ? html`<ul id="user-groups">${v.groups.map((g) => html`<li><a href="${`/admin/groups/group?${new URLSearchParams({ id: g.id }).toString()}`}">${g.name}</a></li>`)}</ul>`
    : html`<p id="user-groups-none">${t('groups.user.none')}</p>`
}</section>`;
}

/** The page of one user, for an admin of their organization. */
export function userPage(ctx: PageContext, v: UserPageData & Notice): Html {
  return layout(
    ctx,
    v.user.name,
    html`${v.link ? linkShown(ctx, v.user, v.link) : ''}
${overview(ctx, v)}
${methods(ctx, v)}
${appPasswords(ctx, v)}
${groupsOf(ctx, v)}
${sessions(ctx, v)}
${signIns(ctx, v)}
${actions(ctx, v)}
<p><a href="/admin/users">${ctx.t('nav.users')}</a></p>`,
    v,
  );
}

/**
 * Where one of a user's app passwords may be used from, chosen by an admin (issue #20): the same
 * controls as the user's own page on Security info, for a device the admin hands out.
 */
export function appPasswordWherePage(
  ctx: PageContext,
  v: { user: User; appPassword: AppPassword; places: readonly PinPlace[]; networkValue?: string } & Notice,
): Html {
  const { t } = ctx;
  const p = v.appPassword;
  const back = userPagePath(v.user.address);
  return layout(
    ctx,
    t('ap.admin.where.title', { name: p.name, address: v.user.address }),
    html`<p><a href="${back}">${t('ap.admin.where.back', { address: v.user.address })}</a></p>
<p>${t('ap.admin.where.intro')}</p>
${postForm(
  ctx,
  '/admin/users/app-passwords/where',
  html`<input type="hidden" name="address" value="${v.user.address}"><input type="hidden" name="id" value="${p.id}">
${pinChoice(ctx, v.places, p.pin, v.error, v.networkValue)}
<button type="submit" class="primary" id="ap-where-save">${t('ap.where.submit')}</button>
<a href="${back}">${t('confirm.cancel')}</a>`,
)}`,
    { notice: v.notice },
  );
}
