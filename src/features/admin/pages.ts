/** The admin console's pages: the sign-in log and the policy (a user's app passwords are on their page, user-page.ts). Each takes the page context and plain data. */
import { METHOD_KINDS, MFA_STATES, type OrgPolicy } from '../../domain/mfa/model.js';
import { PROTOCOLS } from '../../domain/app-passwords/model.js';
import { html, type Html } from '../../web/html.js';
import { layout, pager, type Notice, type PageContext } from '../../web/layout.js';
import { type SignInLogPage, signInAgent, signInProtocol, signInReason, signInTime } from '../../web/components.js';
import { countryOptions, timeZones } from '../../web/regional.js';
import { countryCell } from '../../web/countries.js';

const option = (value: string, label: string, current: string) =>
  html`<option value="${value}"${current === value ? html` selected` : ''}>${label}</option>`;

export function signInsPage(
  ctx: PageContext,
  v: SignInLogPage & { filters?: Html; params?: Record<string, string> } & Notice,
): Html {
  const { t } = ctx;
  const rows = v.events.map(
    (e) => html`<tr class="${e.outcome}">
  <td>${signInTime(ctx, e)}</td><td>${e.addressTyped}</td><td class="outcome">${t(`outcome.${e.outcome}`)}</td><td>${signInReason(ctx, e)}</td><td>${signInProtocol(ctx, e)}</td><td>${e.ip}</td><td>${countryCell(ctx, e.ip)}</td>${signInAgent(ctx, e)}
</tr>`,
  );
  return layout(
    ctx,
    t('signins.title'),
    html`${v.filters ?? ''}<p>${t('signins.count', { total: v.total })}</p>
${
  v.events.length
    ? html`<table>
<thead><tr><th scope="col">${t('signins.col.time')}</th><th scope="col">${t('signins.col.address')}</th><th scope="col">${t('signins.col.outcome')}</th><th scope="col">${t('signins.col.reason')}</th><th scope="col">${t('signins.col.protocol')}</th><th scope="col">${t('signins.col.ip')}</th><th scope="col">${t('signins.col.country')}</th><th scope="col">${t('signins.col.agent')}</th></tr></thead>
<tbody>${rows}</tbody>
</table>`
    : html`<p>${t('signins.none')}</p>`
}
${pager(ctx, '/admin/sign-ins', v.params ?? {}, v.offset, v.limit, v.total)}`,
    v,
  );
}

export function policyPage(
  ctx: PageContext,
  v: { policy: OrgPolicy; defaultPhoneCountries: readonly string[]; groupLimits?: Html } & Notice,
): Html {
  const { t } = ctx;
  const p = v.policy;
  return layout(
    ctx,
    t('policy.title'),
    html`<p id="mail-settings-link"><a href="/admin/mail-settings">${t('mail_settings.policy_link')}</a></p>
<form method="post" action="/admin/policy" class="card">
  <input type="hidden" name="_csrf" value="${ctx.csrf}">
  <label for="mfa-default">${t('policy.mfa_default')}</label>
  <select id="mfa-default" name="mfaDefault">${MFA_STATES.map((st) => html`<option value="${st}" ${p.mfaDefault === st ? html`selected` : ''}>${t(`mfa.state.${st}`)}</option>`)}</select>
  <fieldset><legend>${t('policy.methods')}</legend>
  ${METHOD_KINDS.map((k) => html`<label class="check"><input type="checkbox" name="methods" value="${k}" ${p.allowedMethods.includes(k) ? html`checked` : ''}> ${t(`mfa.kind.${k}`)}</label>`)}
  </fieldset>
  <label for="remember">${t('policy.remember')}</label>
  <input id="remember" name="rememberDays" type="number" min="0" max="365" required value="${p.rememberDays}">
  <label class="check"><input type="checkbox" name="legacyMainNever" value="1" ${p.legacyMainPassword === 'never' ? html`checked` : ''}> ${t('policy.legacy_main_never')}</label>
  <label for="phone-countries">${t('policy.phone_countries')}</label>
  <input id="phone-countries" name="phoneCountries" type="text" autocomplete="off" spellcheck="false" aria-describedby="phone-countries-hint" value="${p.phoneCountries?.join(', ') ?? ''}">
  <p id="phone-countries-hint" class="hint">${t('policy.phone_countries.hint', { countries: v.defaultPhoneCountries.join(', ') })}</p>
  <fieldset><legend>${t('policy.regional')}</legend>
  <label for="time-zone">${t('policy.time_zone')}</label>
  <select id="time-zone" name="timeZone">${option('', t('policy.time_zone.utc'), p.timeZone ?? '')}${timeZones().map((z) => option(z, z.replaceAll('_', ' '), p.timeZone ?? ''))}</select>
  <label for="default-country">${t('policy.default_country')}</label>
  <select id="default-country" name="defaultCountry" aria-describedby="default-country-hint">${option('', t('policy.default_country.none'), p.defaultCountry ?? '')}${countryOptions(ctx.locale).map(([code, name]) => option(code, `${name} (${code})`, p.defaultCountry ?? ''))}</select>
  <p id="default-country-hint" class="hint">${t('policy.default_country.hint')}</p>
  </fieldset>
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
  <label class="check"><input type="checkbox" name="apNotifyNewCountry" value="1" ${p.appPasswords.notifyAdminsNewCountry ? html`checked` : ''}> ${t('policy.ap.notify_new_country')}</label>
  </fieldset>
  <button type="submit" class="primary">${t('policy.save')}</button>
</form>
${v.groupLimits ?? ''}`,
    v,
  );
}
