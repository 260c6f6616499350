/**
 * The Named locations pages (issue #20, item 1): the list with a form to add one, one location's
 * page (edit, delete), and "Check an address" (which locations hold an IP, and its country). Plain
 * data in, HTML out, like every page. The country data is DB-IP's (CC BY 4.0): every page that
 * shows a country from it credits DB-IP (`geoipCredit`).
 */
import { PROTOCOLS, type Protocol } from '../../domain/app-passwords/model.js';
import {
  LOCATION_MODES,
  LOCATION_NAME_MAX,
  type LocationMode,
  type LocationRule,
  type NamedLocation,
} from '../../domain/locations/model.js';
import { postForm, protocolName } from '../../web/components.js';
import { html, type Html } from '../../web/html.js';
import { describedBy, layout, type Notice, type PageContext } from '../../web/layout.js';
import { countryName } from '../../web/regional.js';

/** A location's page: ids go in the query string, like a group's. */
export const locationPagePath = (id: string) => `/admin/locations/location?${new URLSearchParams({ id })}`;

/** What the add and edit forms hold: the text as typed, so a refused form comes back as it was. */
export interface LocationForm {
  name: string;
  networks: string;
  countries: string;
}

/** A stored location as its form shows it: one network a line, one country a line. */
export function locationForm(l: Pick<NamedLocation, 'name' | 'networks' | 'countries'>): LocationForm {
  return { name: l.name, networks: l.networks.join('\n'), countries: l.countries.join('\n') };
}

/** The answer of "Check an address". */
export interface AddressCheck {
  ip: string;
  /** Names of the locations that hold it, in the list's order. */
  matches: string[];
  /** ISO code; undefined when the data does not place it; null when the data could not be read. */
  country: string | undefined | null;
}

/** The attribution CC BY 4.0 asks of DB-IP's data, in DB-IP's own words and link. */
export function geoipCredit(ctx: PageContext): Html {
  return html`<p class="hint" id="geoip-credit"><a href="https://db-ip.com">${ctx.t('locations.credit')}</a></p>`;
}

/** A country as the pages show it: its code, then its name in the page's language (Intl's). */
function country(ctx: PageContext, code: string): Html {
  return html`<code>${code}</code> <span class="country-name">${countryName(ctx.locale, code)}</span>`;
}

/** A rule's mode and locations as a form shows them (stored, or as typed when refused). */
export interface RuleChoice {
  mode: LocationMode;
  locationIds: readonly string[];
}

/** What the rules section shows: the stored rules, the groups that may have one, and forms as typed after a refusal. */
export interface RulesView {
  rules: readonly LocationRule[];
  groups: readonly { id: string; name: string }[];
  /** The organization-wide rows as typed, by protocol, when that form was refused. */
  orgForm?: Partial<Record<Protocol, RuleChoice>>;
  /** The group rule being added, as typed, when it was refused. */
  groupForm?: RuleChoice & { groupId: string; protocol: string };
  /** Which of the two forms the page's error is about. */
  errorOf?: 'org' | 'group';
}

const modeText = (ctx: PageContext, mode: LocationMode) => ctx.t(`locations.rules.mode.${mode}`);

/**
 * "Anywhere", "only from named locations", "never" for one rule, and the locations to tick for the
 * second. Without locations the second cannot be chosen and says to add one first. `prefix` names
 * the fields (`mode_imap`, `locations_imap`; `mode`, `locations` for the group form).
 */
function ruleChoice(
  ctx: PageContext,
  v: {
    idBase: string;
    prefix: string;
    legend: string;
    choice: RuleChoice;
    locations: readonly NamedLocation[];
    error: string | undefined;
  },
): Html {
  const { t } = ctx;
  const name = (f: string) => (v.prefix ? `${f}_${v.prefix}` : f);
  const none = v.locations.length === 0;
  const radio = (mode: LocationMode) =>
    html`<label class="check"><input type="radio" name="${name('mode')}" value="${mode}" id="${v.idBase}-${mode}"${v.choice.mode === mode ? html` checked` : ''}${mode === 'locations' && none ? html` disabled` : ''}> ${mode === 'locations' && none ? t('locations.rules.mode.locations.none') : modeText(ctx, mode)}</label>`;
  return html`<fieldset id="${v.idBase}" ${describedBy(v.error)}><legend>${v.legend}</legend>
${LOCATION_MODES.map(radio)}
${
  none
    ? ''
    : html`<fieldset class="rule-locations" id="${v.idBase}-which"><legend class="visually-hidden">${t('locations.rules.which', { protocol: v.legend })}</legend>
${v.locations.map((l) => html`<label class="check"><input type="checkbox" name="${name('locations')}" value="${l.id}"${v.choice.locationIds.includes(l.id) ? html` checked` : ''}> ${l.name}</label>`)}
</fieldset>`
}
</fieldset>`;
}

/**
 * The rules that use locations (issue #20, item 2), right after the list: one row per protocol for
 * everyone in the organization, then the groups' rules with a form to add one. `error`: the page's
 * error, pointed at from the form it is about.
 */
export function locationRulesSection(
  ctx: PageContext,
  locations: NamedLocation[],
  v: RulesView,
  error: string | undefined,
): Html {
  const { t } = ctx;
  const orgRule = (p: Protocol): RuleChoice =>
    v.orgForm?.[p] ??
    v.rules.find((r) => r.protocol === p && r.groupId === null) ?? { mode: 'anywhere', locationIds: [] };
  const names = new Map([...locations, ...v.groups].map((x) => [x.id, x.name]));
  const groupRules = v.rules
    .filter((r) => r.groupId !== null)
    .sort((a, b) => (names.get(a.groupId!) ?? '').localeCompare(names.get(b.groupId!) ?? ''));
  const gf = v.groupForm ?? { groupId: '', protocol: '', mode: 'anywhere' as const, locationIds: [] };
  return html`<section aria-labelledby="location-rules-title" id="location-rules"><h2 id="location-rules-title">${t('locations.rules.title')}</h2>
<p id="location-rules-intro">${t('locations.rules.intro')}</p>
<p id="location-rules-only">${t('locations.rules.only')}</p>
<p id="location-rules-log">${t('locations.rules.log', { reason: t('reason.location_not_allowed') })}</p>
${postForm(
  ctx,
  '/admin/locations/rules',
  html`<h3 id="location-rules-everyone">${t('locations.rules.everyone')}</h3>
${PROTOCOLS.map((p) =>
  ruleChoice(ctx, {
    idBase: `rule-${p}`,
    prefix: p,
    legend: protocolName(ctx, p),
    choice: orgRule(p),
    locations,
    error: v.errorOf === 'org' ? error : undefined,
  }),
)}
<button type="submit" class="primary" id="location-rules-save">${t('locations.rules.save')}</button>`,
)}
<h3 id="location-group-rules-title">${t('locations.rules.groups')}</h3>
<p id="location-group-rules-intro">${t('locations.rules.groups.intro')}</p>
${
  groupRules.length
    ? html`<table id="location-group-rules"><caption class="visually-hidden">${t('locations.rules.groups')}</caption>
<thead><tr><th scope="col">${t('locations.rules.col.group')}</th><th scope="col">${t('locations.rules.col.protocol')}</th><th scope="col">${t('locations.rules.col.mode')}</th><th scope="col">${t('locations.rules.col.locations')}</th><th scope="col">${t('locations.actions')}</th></tr></thead>
<tbody>${groupRules.map((r) => {
        const group = names.get(r.groupId!) ?? r.groupId!;
        const protocol = protocolName(ctx, r.protocol);
        return html`<tr><td>${group}</td><td>${protocol}</td><td>${modeText(ctx, r.mode)}</td><td>${r.locationIds.map((id) => names.get(id) ?? id).join(', ')}</td><td>${postForm(
          ctx,
          '/admin/locations/group-rules/remove',
          html`<input type="hidden" name="group" value="${r.groupId!}"><input type="hidden" name="protocol" value="${r.protocol}"><button type="submit" class="secondary" aria-label="${t('locations.rules.remove.label', { protocol, group })}">${t('locations.rules.remove')}</button>`,
          'inline',
        )}</td></tr>`;
      })}</tbody></table>`
    : html`<p id="location-group-rules-none">${t('locations.rules.groups.none')}</p>`
}
${
  v.groups.length === 0
    ? html`<p id="location-group-rules-no-groups">${t('locations.rules.groups.no_groups')} <a href="/admin/groups">${t('groups.nav')}</a></p>`
    : html`<h4 id="location-group-rule-new-title">${t('locations.rules.groups.new')}</h4>
${postForm(
  ctx,
  '/admin/locations/group-rules',
  html`<p class="hint" id="location-group-rule-hint">${t('locations.rules.groups.hint')}</p>
<label for="group-rule-group">${t('locations.rules.col.group')}</label>
<select id="group-rule-group" name="group" ${describedBy(v.errorOf === 'group' ? error : undefined, 'location-group-rule-hint')}>${v.groups.map((g) => html`<option value="${g.id}"${gf.groupId === g.id ? html` selected` : ''}>${g.name}</option>`)}</select>
<label for="group-rule-protocol">${t('locations.rules.col.protocol')}</label>
<select id="group-rule-protocol" name="protocol">${PROTOCOLS.map((p) => html`<option value="${p}"${gf.protocol === p ? html` selected` : ''}>${protocolName(ctx, p)}</option>`)}</select>
${ruleChoice(ctx, {
  idBase: 'group-rule',
  prefix: '',
  legend: t('locations.rules.col.mode'),
  choice: gf,
  locations,
  error: v.errorOf === 'group' ? error : undefined,
})}
<button type="submit" class="primary" id="location-group-rule-add">${t('locations.rules.groups.add')}</button>`,
)}`
}
</section>`;
}

/** Name, networks and countries, for adding (`/admin/locations`) and editing (`/admin/locations/update`). */
function locationFields(ctx: PageContext, form: LocationForm, error: string | undefined): Html {
  const { t } = ctx;
  return html`<label for="location-name">${t('locations.name')}</label>
  <input id="location-name" name="name" type="text" required maxlength="${String(LOCATION_NAME_MAX)}" autocomplete="off" value="${form.name}" ${describedBy(error, 'location-name-hint')}>
  <p class="hint" id="location-name-hint">${t('locations.name.hint', { max: LOCATION_NAME_MAX })}</p>
  <label for="location-networks">${t('locations.networks')}</label>
  <textarea id="location-networks" name="networks" rows="5" spellcheck="false" autocomplete="off" ${describedBy(error, 'location-networks-hint')}>${form.networks}</textarea>
  <p class="hint" id="location-networks-hint">${t('locations.networks.hint')}</p>
  <label for="location-countries">${t('locations.countries')}</label>
  <textarea id="location-countries" name="countries" rows="3" spellcheck="false" autocomplete="off" ${describedBy(error, 'location-countries-hint')}>${form.countries}</textarea>
  <p class="hint" id="location-countries-hint">${t('locations.countries.hint')}</p>`;
}

/** `error`: the page's error when it is about the address asked (then the field points at it). */
function checkSection(ctx: PageContext, check: AddressCheck | undefined, ip: string, error: string | undefined): Html {
  const { t } = ctx;
  return html`<section aria-labelledby="location-check-title" id="location-check"><h2 id="location-check-title">${t('locations.check.title')}</h2>
<form method="get" action="/admin/locations" class="card" role="search" aria-labelledby="location-check-title">
  <label for="location-check-ip">${t('locations.check.label')}</label>
  <input id="location-check-ip" name="ip" type="text" maxlength="64" autocomplete="off" spellcheck="false" value="${ip}" ${describedBy(error, 'location-check-hint')}>
  <p class="hint" id="location-check-hint">${t('locations.check.hint')}</p>
  <button type="submit" id="location-check-submit">${t('locations.check.submit')}</button>
</form>
${
  check
    ? html`<div id="location-check-result" role="status">${
        check.matches.length
          ? html`<p>${t('locations.check.matches', { ip: check.ip })}</p><ul id="location-check-matches">${check.matches.map((n) => html`<li>${n}</li>`)}</ul>`
          : html`<p id="location-check-none">${t('locations.check.none', { ip: check.ip })}</p>`
      }
<p id="location-check-country">${
        check.country === null
          ? t('locations.check.country_unavailable')
          : check.country === undefined
            ? t('locations.check.country_unknown', { ip: check.ip })
            : html`${t('locations.check.country')} ${country(ctx, check.country)}`
      }</p></div>`
    : ''
}
</section>`;
}

export function locationsPage(
  ctx: PageContext,
  v: {
    locations: NamedLocation[];
    form?: LocationForm;
    /** What "Check an address" was asked (kept in its field), and its answer when it had one. */
    ip?: string;
    check?: AddressCheck;
    /** The rules section (issue #20, item 2). */
    rules: RulesView;
  } & Notice,
): Html {
  const { t } = ctx;
  const form = v.form ?? { name: '', networks: '', countries: '' };
  return layout(
    ctx,
    t('locations.title'),
    html`<p id="locations-intro">${t('locations.intro')}</p>
${
  v.locations.length
    ? html`<table id="locations"><caption>${t('locations.list.caption')}</caption>
<thead><tr><th scope="col">${t('locations.name')}</th><th scope="col">${t('locations.networks')}</th><th scope="col">${t('locations.countries')}</th><th scope="col">${t('locations.actions')}</th></tr></thead>
<tbody>${v.locations.map(
        (l) =>
          html`<tr><td>${l.name}</td><td>${l.networks.map((n, i) => html`${i ? html`<br>` : ''}<code>${n}</code>`)}</td><td>${l.countries.map((c, i) => html`${i ? html`<br>` : ''}${country(ctx, c)}`)}</td><td><a href="${locationPagePath(l.id)}" aria-label="${t('locations.edit.label', { name: l.name })}">${t('locations.edit')}</a> ${postForm(
            ctx,
            '/admin/locations/delete',
            html`<input type="hidden" name="id" value="${l.id}"><button type="submit" class="secondary" aria-label="${t('locations.delete.label', { name: l.name })}">${t('locations.delete')}</button>`,
            'inline',
          )}</td></tr>`,
      )}</tbody></table>`
    : html`<p id="locations-none">${t('locations.none')}</p>`
}
${locationRulesSection(ctx, v.locations, v.rules, v.rules.errorOf ? v.error : undefined)}
<h2 id="location-new-title">${t('locations.new')}</h2>
${postForm(
  ctx,
  '/admin/locations',
  // The page's error is this form's when the form came back (v.form); else it is another's.
  html`${locationFields(ctx, form, v.form ? v.error : undefined)}
  <button type="submit" class="primary" id="location-create">${t('locations.create')}</button>`,
)}
${checkSection(ctx, v.check, v.ip ?? '', v.ip && !v.check ? v.error : undefined)}
${geoipCredit(ctx)}`,
    v,
  );
}

export function locationPage(ctx: PageContext, v: { location: NamedLocation; form?: LocationForm } & Notice): Html {
  const { t } = ctx;
  const l = v.location;
  return layout(
    ctx,
    t('locations.location.title', { name: l.name }),
    html`<p><a href="/admin/locations">${t('locations.back')}</a></p>
<h2 id="location-edit-title">${t('locations.edit.title')}</h2>
${postForm(
  ctx,
  '/admin/locations/update',
  html`<input type="hidden" name="id" value="${l.id}">
  ${locationFields(ctx, v.form ?? locationForm(l), v.error)}
  <button type="submit" class="primary" id="location-save">${t('locations.save')}</button>`,
)}
${postForm(
  ctx,
  '/admin/locations/delete',
  html`<input type="hidden" name="id" value="${l.id}"><button type="submit" class="secondary" id="location-delete">${t('locations.delete.button')}</button>`,
)}
${l.countries.length ? geoipCredit(ctx) : ''}`,
    v,
  );
}
