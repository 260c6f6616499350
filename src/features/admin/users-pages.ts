/**
 * The admin Users console at organization scale: the Users page (filters, sorts, keyset pager,
 * checkboxes for a bulk change, a CSV upload) and the bulk change's preview and result pages.
 * Like every page, these take plain data and touch no service.
 */
import type { BulkOperation, BulkPlan, PlannedRow } from '../../domain/accounts/bulk-changes.js';
import type { DirectoryPage } from '../../domain/accounts/directory.js';
import { METHOD_KINDS, MFA_STATES } from '../../domain/mfa/model.js';
import { COPY_SCRIPT, copyButton, when } from '../../web/components.js';
import { html, type Html } from '../../web/html.js';
import { layout, type PageContext } from '../../web/layout.js';
import { userPagePath } from './user-page.js';

type Notice = { notice?: string; error?: string };

/** The listing's query as it came (filters, sort), kept on the pager's links and in the filter form. */
export type UsersQuery = Partial<
  Record<'q' | 'mfa' | 'method' | 'appPasswords' | 'status' | 'lastSignIn' | 'sort' | 'order', string>
>;

/** Rows one bulk change may have on the web (preview and result list each row); larger files go through the CLI. */
export const WEB_BULK_MAX_ROWS = 5000;

/** The bulk operations offered for the checked users: `mfa:<state>`, `reregister`, `disable`. */
export const SELECTION_OPS = [...MFA_STATES.map((s) => `mfa:${s}` as const), 'reregister', 'disable'] as const;

const LAST_SIGN_IN_CHOICES = ['within:7', 'within:30', 'over:30', 'over:90', 'never'] as const;

function option(value: string, label: string, current: string | undefined): Html {
  return html`<option value="${value}" ${current === value ? html`selected` : ''}>${label}</option>`;
}

/** A filter's select, its label wrapping it (the sign-in log's filter style, form.filters in sesame.css). */
function select(
  ctx: PageContext,
  id: string,
  name: string,
  labelId: Parameters<PageContext['t']>[0],
  current: string | undefined,
  options: [string, string][],
  any = true,
): Html {
  return html`<label>${ctx.t(labelId)} <select id="${id}" name="${name}">${any ? option('', ctx.t('users.filter.any'), current) : ''}${options.map(([v, l]) => option(v, l, current))}</select></label>`;
}

function lastSignInLabel(ctx: PageContext, v: string): string {
  if (v === 'never') return ctx.t('users.filter.never');
  const [kind, days] = v.split(':');
  return ctx.t(kind === 'within' ? 'users.filter.within' : 'users.filter.over', { days: Number(days) });
}

function filterForm(ctx: PageContext, q: UsersQuery): Html {
  const { t } = ctx;
  return html`<form method="get" action="/admin/users" class="filters" role="search" aria-label="${t('users.filter.legend')}">
  <label>${t('users.search')} <input id="q" name="q" type="search" value="${q.q ?? ''}" maxlength="100"></label>
  ${select(
    ctx,
    'f-mfa',
    'mfa',
    'users.filter.mfa',
    q.mfa,
    MFA_STATES.map((s) => [s, t(`mfa.state.${s}`)]),
  )}
  ${select(ctx, 'f-method', 'method', 'users.filter.method', q.method, [['any', t('users.filter.method.any')], ['none', t('users.filter.method.none')], ...METHOD_KINDS.map((k): [string, string] => [k, t(`mfa.kind.${k}`)])])}
  ${select(ctx, 'f-ap', 'appPasswords', 'users.filter.ap', q.appPasswords, [
    ['yes', t('users.filter.yes')],
    ['no', t('users.filter.no')],
  ])}
  ${select(ctx, 'f-status', 'status', 'users.filter.status', q.status, [
    ['active', t('status.active')],
    ['disabled', t('status.disabled')],
  ])}
  ${select(
    ctx,
    'f-last',
    'lastSignIn',
    'users.filter.last',
    q.lastSignIn,
    LAST_SIGN_IN_CHOICES.map((v) => [v, lastSignInLabel(ctx, v)]),
  )}
  ${select(
    ctx,
    'f-sort',
    'sort',
    'users.sort',
    q.sort,
    (['address', 'name', 'created', 'last_sign_in'] as const).map((s) => [s, t(`users.sort.${s}`)]),
    false,
  )}
  ${select(
    ctx,
    'f-order',
    'order',
    'users.order',
    q.order,
    [
      ['asc', t('users.order.asc')],
      ['desc', t('users.order.desc')],
    ],
    false,
  )}
  <button type="submit">${t('users.filter.submit')}</button>
</form>`;
}

function pager(ctx: PageContext, q: UsersQuery, page: DirectoryPage): Html {
  const keep = Object.fromEntries(Object.entries(q).filter(([, v]) => v)) as Record<string, string>;
  const link = (cursor: string) => `/admin/users?${new URLSearchParams({ ...keep, cursor }).toString()}`;
  return html`<nav class="pager">
  ${page.prev ? html`<a href="${link(page.prev)}" rel="prev">${ctx.t('pager.previous')}</a>` : ''}
  ${page.next ? html`<a href="${link(page.next)}" rel="next">${ctx.t('pager.next')}</a>` : ''}
</nav>`;
}

/** The Users page. */
export function usersPage(
  ctx: PageContext,
  v: {
    page: DirectoryPage;
    query: UsersQuery;
    link?: { address: string; url: string; expires: string };
  } & Notice,
): Html {
  const { t } = ctx;
  const csrf = html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
  // A row says what the user is; everything done to one user is on their page (user-page.ts).
  const rows = v.page.users.map(
    (u) => html`<tr>
  <td><input type="checkbox" name="address" value="${u.address}" form="bulk" aria-label="${t('users.col.select', { address: u.address })}"></td>
  <td><a href="${userPagePath(u.address)}">${u.name}</a></td><td class="address">${u.address}</td><td>${t(`role.${u.role}`)}</td><td>${t(`status.${u.status}`)}</td>
  <td class="mfa">${t(`mfa.state.${u.mfaState}`)}</td>
  <td>${u.methods.map((k) => t(`mfa.kind.${k}`)).join(', ')}</td>
  <td>${u.appPasswordCount}</td>
  <td>${u.lastSignInAt === null ? t('users.never') : when(ctx, u.lastSignInAt)}</td>
</tr>`,
  );
  return layout(
    ctx,
    t('users.title'),
    html`${v.link ? html`<div class="notice" role="status"><p>${t('users.added', { address: v.link.address, expires: v.link.expires })}</p><div class="app-password"><code id="set-password-link">${v.link.url}</code>${copyButton(ctx, 'set-password-link')}<span class="copied" role="status" aria-live="polite"></span></div></div>${COPY_SCRIPT}` : ''}
${filterForm(ctx, v.query)}
<p id="user-count">${t('users.count', { total: v.page.total })}</p>
${
  v.page.users.length
    ? html`<form id="bulk" method="post" action="/admin/users/bulk/preview" class="inline bulk">${csrf}
  <label for="bulk-op">${t('users.bulk.title')}</label>
  <select id="bulk-op" name="op">${SELECTION_OPS.map((op) => option(op, op.startsWith('mfa:') ? t('users.bulk.op.mfa', { state: t(`mfa.state.${op.slice(4) as 'enabled'}`) }) : t(op === 'reregister' ? 'users.reregister' : 'users.disable'), undefined))}</select>
  <button type="submit">${t('users.bulk.preview')}</button>
</form>
<table>
<thead><tr><th scope="col"><span class="visually-hidden">${t('users.col.pick')}</span></th><th scope="col">${t('users.col.name')}</th><th scope="col">${t('users.col.address')}</th><th scope="col">${t('users.col.role')}</th><th scope="col">${t('users.col.status')}</th><th scope="col">${t('users.col.mfa')}</th><th scope="col">${t('users.col.methods')}</th><th scope="col">${t('users.col.ap')}</th><th scope="col">${t('users.col.last')}</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
    : html`<p>${t('users.none')}</p>`
}
${pager(ctx, v.query, v.page)}
<h2>${t('users.csv.title')}</h2>
<form method="post" action="/admin/users/bulk/upload" enctype="multipart/form-data" class="card">
  ${csrf}
  <p>${t('users.csv.help', { max: WEB_BULK_MAX_ROWS })}</p>
  <label for="csv-file">${t('users.csv.file')}</label>
  <input id="csv-file" name="file" type="file" accept=".csv,text/csv" required>
  <label for="csv-op">${t('users.bulk.op')}</label>
  <select id="csv-op" name="op">${option('mfa', t('users.bulk.op.mfa_file'), undefined)}${option('reregister', t('users.reregister'), undefined)}${option('disable', t('users.disable'), undefined)}</select>
  <button type="submit">${t('users.bulk.preview')}</button>
</form>
<h2>${t('users.add.title')}</h2>
<form method="post" action="/admin/users" class="card">
  ${csrf}
  <label for="new-address">${t('users.add.address')}</label>
  <input id="new-address" name="address" type="email" required maxlength="254">
  <label for="new-name">${t('users.add.name')}</label>
  <input id="new-name" name="name" type="text" maxlength="200">
  <label class="check"><input type="checkbox" name="admin" value="1"> ${t('users.add.admin')}</label>
  <button type="submit" class="primary">${t('users.add.submit')}</button>
</form>`,
    v,
  );
}

/** What the row's user is now, in the terms of the operation (MFA state, methods, or account status). */
function now(ctx: PageContext, op: BulkOperation, r: PlannedRow): string {
  const t = r.target;
  if (!t) return '';
  if (op === 'disable') return ctx.t(`status.${t.status}`);
  const state = ctx.t(`mfa.state.${t.mfaState}`);
  return op === 'reregister' ? ctx.t('bulk.now.methods', { state, count: t.methodCount }) : state;
}

function after(ctx: PageContext, op: BulkOperation, r: PlannedRow): string {
  if (r.problem) {
    return r.problem === 'duplicate'
      ? ctx.t('bulk.problem.duplicate', { row: r.duplicateOf ?? 0 })
      : ctx.t(`bulk.problem.${r.problem}`);
  }
  if (op === 'mfa') {
    const state = ctx.t(`mfa.state.${r.mfaState!}`);
    // Turning MFA off deletes the user's app passwords: the preview says how many go.
    const count = r.target?.appPasswordCount ?? 0;
    return r.mfaState === 'disabled' && r.target?.mfaState !== 'disabled' && count > 0
      ? ctx.t('bulk.after.mfa_off', { state, count })
      : state;
  }
  return op === 'reregister'
    ? ctx.t('bulk.after.reregister', { state: ctx.t('mfa.state.enabled') })
    : ctx.t('bulk.after.disabled');
}

function rowsTable(ctx: PageContext, plan: BulkPlan, result: boolean): Html {
  const { t } = ctx;
  return html`<table class="bulk-rows">
<thead><tr><th scope="col">${t('bulk.col.row')}</th><th scope="col">${t('bulk.col.address')}</th><th scope="col">${t('bulk.col.now')}</th><th scope="col">${t('bulk.col.after')}</th>${result ? html`<th scope="col">${t('bulk.col.result')}</th>` : ''}</tr></thead>
<tbody>${plan.rows.map(
    (r) =>
      html`<tr class="${r.problem ? 'error' : r.changes ? 'change' : 'same'}"><td>${r.row}</td><td>${r.address}</td><td>${result ? '' : now(ctx, plan.operation, r)}</td><td>${after(ctx, plan.operation, r)}</td>${result ? html`<td>${t(r.changes ? 'bulk.outcome.changed' : 'bulk.outcome.same')}</td>` : ''}</tr>`,
  )}</tbody>
</table>`;
}

/**
 * The preview of a bulk change: each row, what it is now and what it would become, or its problem.
 * Apply is offered only when no row has a problem; it sends the rows back with the plan's
 * fingerprint, so that Apply changes exactly what was shown or nothing.
 */
export function bulkPreviewPage(ctx: PageContext, v: { plan: BulkPlan; rowsField: string } & Notice): Html {
  const { t } = ctx;
  const p = v.plan;
  const changes = p.rows.filter((r) => r.changes).length;
  return layout(
    ctx,
    t('bulk.title'),
    html`${p.problems ? html`<p class="error" role="alert" id="bulk-problems">${t('bulk.problems', { count: p.problems })}</p>` : html`<p id="bulk-summary">${t('bulk.summary', { changes, same: p.rows.length - changes })}</p>`}
${rowsTable(ctx, p, false)}
${
  p.problems || changes === 0
    ? ''
    : html`<form method="post" action="/admin/users/bulk/apply" class="card">
  <input type="hidden" name="_csrf" value="${ctx.csrf}">
  <input type="hidden" name="op" value="${p.operation}">
  <input type="hidden" name="rows" value="${v.rowsField}">
  <input type="hidden" name="fingerprint" value="${p.fingerprint}">
  <button type="submit" class="primary">${t('bulk.apply')}</button>
</form>`
}
<p><a href="/admin/users">${t('bulk.back')}</a></p>`,
    v,
  );
}

/** What an applied bulk change did, row by row. */
export function bulkResultPage(ctx: PageContext, v: { plan: BulkPlan; changed: number }): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('bulk.done.title'),
    html`<p class="notice" role="status" id="bulk-done">${t('bulk.done', { changed: v.changed })}</p>
${rowsTable(ctx, v.plan, true)}
<p><a href="/admin/users">${t('bulk.back')}</a></p>`,
  );
}
