/**
 * The Groups pages (issue #19, item 1): the list with a form to create one, one group's page
 * (members, add, remove, rename, delete, a membership file chosen or pasted: a multipart form), and
 * the form of which group each use requires (also shown on the Policy page). Plain data in, HTML
 * out, like every page.
 */
import { GROUP_USES, type Group, type GroupLimits, type GroupMember } from '../../domain/groups/model.js';
import { csrfField, postForm, when } from '../../web/components.js';
import { userPagePath } from './user-page.js';
import { html, type Html } from '../../web/html.js';
import { layout, type Notice, type PageContext } from '../../web/layout.js';
import type { MembershipPlan } from '../../domain/groups/service.js';

/**
 * A membership file may be this many bytes uploaded, or characters pasted (5000 rows of long
 * addresses); the preview's Apply carries it back as a form field, well inside the body limit.
 */
export const IMPORT_MAX = 200_000;

/** A group's page: ids go in the query string, like a user's address. */
export const groupPagePath = (id: string) => `/admin/groups/group?${new URLSearchParams({ id })}`;

/** Which group each use requires; posted to /admin/groups/limits, which comes back to `back`. */
export function groupLimitsForm(ctx: PageContext, groups: Group[], limits: GroupLimits, back: string): Html {
  const { t } = ctx;
  return html`<section aria-labelledby="group-limits-title" id="group-limits"><h2 id="group-limits-title">${t('groups.limits.title')}</h2>
${postForm(
  ctx,
  '/admin/groups/limits',
  html`<input type="hidden" name="back" value="${back}">
  <p class="hint" id="group-limits-hint">${t('groups.limits.hint')}</p>
  ${GROUP_USES.map(
    (u) => html`<label for="limit-${u}">${t(`groups.limits.${u}`)}</label>
  <select id="limit-${u}" name="${u}" aria-describedby="group-limits-hint"><option value="">${t('groups.limits.everyone')}</option>${groups.map((g) => html`<option value="${g.id}"${limits[u] === g.id ? html` selected` : ''}>${g.name}</option>`)}</select>`,
  )}
  <button type="submit" id="group-limits-save">${t('groups.limits.save')}</button>`,
)}</section>`;
}

export function groupsPage(
  ctx: PageContext,
  v: {
    groups: (Group & { members: number })[];
    limits: GroupLimits;
    form?: { name: string; description: string };
  } & Notice,
): Html {
  const { t } = ctx;
  return layout(
    ctx,
    t('groups.title'),
    html`<p>${t('groups.intro')}</p>
${
  v.groups.length
    ? html`<table id="groups"><caption>${t('groups.list.caption')}</caption>
<thead><tr><th scope="col">${t('groups.name')}</th><th scope="col">${t('groups.members')}</th><th scope="col">${t('groups.description')}</th></tr></thead>
<tbody>${v.groups.map((g) => html`<tr><td><a href="${groupPagePath(g.id)}">${g.name}</a></td><td>${String(g.members)}</td><td>${g.description}</td></tr>`)}</tbody></table>`
    : html`<p id="groups-none">${t('groups.none')}</p>`
}
<h2 id="group-new-title">${t('groups.new')}</h2>
${postForm(
  ctx,
  '/admin/groups',
  html`<label for="group-name">${t('groups.name')}</label>
  <input id="group-name" name="name" type="text" required maxlength="100" autocomplete="off" value="${v.form?.name ?? ''}">
  <label for="group-description">${t('groups.description')}</label>
  <input id="group-description" name="description" type="text" maxlength="500" autocomplete="off" value="${v.form?.description ?? ''}">
  <button type="submit" class="primary" id="group-create">${t('groups.create')}</button>`,
)}
${groupLimitsForm(ctx, v.groups, v.limits, '/admin/groups')}`,
    v,
  );
}

export function groupPage(
  ctx: PageContext,
  v: { group: Group; members: GroupMember[]; requiredFor: string[] } & Notice,
): Html {
  const { t } = ctx;
  const g = v.group;
  const back = groupPagePath(g.id);
  return layout(
    ctx,
    t('groups.group.title', { name: g.name }),
    html`<p><a href="/admin/groups">${t('groups.back')}</a></p>
${g.description ? html`<p id="group-description-text">${g.description}</p>` : ''}
${v.requiredFor.length ? html`<p id="group-required-for">${t('groups.required_for', { uses: v.requiredFor.join(', ') })}</p>` : ''}
<h2 id="group-members-title">${t('groups.members')}</h2>
${
  v.members.length
    ? html`<table id="group-members"><caption>${t('groups.members.caption', { name: g.name })}</caption>
<thead><tr><th scope="col">${t('groups.member.address')}</th><th scope="col">${t('groups.member.name')}</th><th scope="col">${t('groups.member.added')}</th><th scope="col">${t('groups.member.actions')}</th></tr></thead>
<tbody>${v.members.map(
        (m) =>
          html`<tr><td><a href="${userPagePath(m.address)}">${m.address}</a></td><td>${m.name}</td><td>${when(ctx, m.addedAt)}</td><td>${postForm(
            ctx,
            '/admin/groups/members/remove',
            html`<input type="hidden" name="id" value="${g.id}"><input type="hidden" name="address" value="${m.address}"><button type="submit" class="secondary">${t('groups.member.remove')}</button>`,
            'inline',
          )}</td></tr>`,
      )}</tbody></table>`
    : html`<p id="group-members-none">${t('groups.members.none')}</p>`
}
${postForm(
  ctx,
  '/admin/groups/members/add',
  html`<input type="hidden" name="id" value="${g.id}">
  <label for="member-address">${t('groups.member.add_label')}</label>
  <input id="member-address" name="address" type="email" required maxlength="254" autocomplete="off" spellcheck="false">
  <button type="submit" class="primary" id="member-add">${t('groups.member.add')}</button>`,
)}
<h2 id="group-import-title">${t('groups.import.title')}</h2>
<form method="post" action="/admin/groups/import" enctype="multipart/form-data" class="card">${csrfField(ctx)}<input type="hidden" name="back" value="${back}">
  <p class="hint" id="group-csv-hint">${t('groups.import.hint', { kb: IMPORT_MAX / 1000 })}</p>
  <label for="group-csv-file">${t('groups.import.file')}</label>
  <input id="group-csv-file" name="file" type="file" accept=".csv,text/csv" aria-describedby="group-csv-hint">
  <label for="group-csv">${t('groups.import.label')}</label>
  <textarea id="group-csv" name="csv" rows="6" maxlength="${String(IMPORT_MAX)}" spellcheck="false" aria-describedby="group-csv-hint"></textarea>
  <button type="submit" id="group-import">${t('groups.import.preview')}</button>
</form>
<h2 id="group-edit-title">${t('groups.edit')}</h2>
${postForm(
  ctx,
  '/admin/groups/update',
  html`<input type="hidden" name="id" value="${g.id}">
  <label for="group-name">${t('groups.name')}</label>
  <input id="group-name" name="name" type="text" required maxlength="100" autocomplete="off" value="${g.name}">
  <label for="group-description">${t('groups.description')}</label>
  <input id="group-description" name="description" type="text" maxlength="500" autocomplete="off" value="${g.description}">
  <button type="submit" id="group-save">${t('groups.save')}</button>`,
)}
${postForm(
  ctx,
  '/admin/groups/delete',
  html`<input type="hidden" name="id" value="${g.id}"><button type="submit" class="secondary" id="group-delete">${t('groups.delete')}</button>`,
)}`,
    v,
  );
}

/**
 * What a membership file would do, before anything changes: every addition and every problem.
 * The Apply button posts the same text again with `confirm=1`, offered only when there is no
 * problem (all or nothing).
 */
export function importPreviewPage(
  ctx: PageContext,
  v: { plan: MembershipPlan; csv: string; back: string } & Notice,
): Html {
  const { t } = ctx;
  const p = v.plan;
  return layout(
    ctx,
    t('groups.import.preview_title'),
    html`<p id="import-summary">${t('groups.import.summary', { adds: p.adds.length, already: p.already, problems: p.problems.length })}</p>
${
  p.problems.length
    ? html`<h2 id="import-problems-title">${t('groups.import.problems')}</h2><ul id="import-problems">${p.problems.map((x) => html`<li>${t('groups.import.row', { row: x.row })}: ${t(`groups.import.problem.${x.problem}`, { value: x.value })}</li>`)}</ul>`
    : ''
}
${
  p.adds.length
    ? html`<h2 id="import-adds-title">${t('groups.import.adds')}</h2><ul id="import-adds">${p.adds.map((a) => html`<li>${t('groups.import.add_item', { address: a.address, group: a.group })}</li>`)}</ul>`
    : ''
}
${
  p.problems.length === 0 && p.adds.length > 0
    ? postForm(
        ctx,
        '/admin/groups/import',
        html`<input type="hidden" name="back" value="${v.back}"><input type="hidden" name="csv" value="${v.csv}"><button type="submit" name="confirm" value="1" class="primary" id="import-apply">${t('groups.import.apply', { count: p.adds.length })}</button>`,
      )
    : ''
}
<p><a href="${v.back}">${t('confirm.cancel')}</a></p>`,
    v,
  );
}
