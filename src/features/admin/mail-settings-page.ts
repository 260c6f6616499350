/**
 * The Mail settings page (issue #18, item 1): the organization's IMAP, POP3, SMTP submission,
 * CalDAV and CardDAV servers, the form of the user name, and the result of the check. A refused
 * save shows what was typed, the page's error at the top and each problem beside its field.
 */
import {
  isDav,
  MAIL_SERVICES,
  type MailService,
  type MailSettings,
  SECURITIES,
  SERVICE_NAMES,
  type ServiceCheck,
  USER_NAME_FORMS,
  USUAL_PORTS,
} from '../../domain/mail-settings/model.js';
import { postForm } from '../../web/components.js';
import { html, type Html } from '../../web/html.js';
import { layout, type Notice, type PageContext } from '../../web/layout.js';

/** The form's fields by name (`imap.host`, `userName`, ...), as saved or as typed. */
export type MailSettingsForm = Record<string, string>;

export function formOf(s: MailSettings | null): MailSettingsForm {
  const f: MailSettingsForm = { userName: s?.userName ?? 'address' };
  for (const service of MAIL_SERVICES) {
    const e = s?.servers[service];
    f[`${service}.host`] = e?.host ?? '';
    f[`${service}.port`] = e ? String(e.port) : '';
    f[`${service}.security`] = e?.security ?? (service === 'smtp' ? 'starttls' : 'tls');
    if (isDav(service)) f[`${service}.path`] = e?.path ?? '';
  }
  return f;
}

export interface MailSettingsView extends Notice {
  saved: boolean;
  form: MailSettingsForm;
  /** Message beside each refused field, by field name. */
  problems?: Map<string, string>;
  results?: ServiceCheck[];
  /** The certificate the configuration profiles are signed with (the operator's setting); null: unsigned. */
  profileSigner: { subject: string; notAfter: number } | null;
}

const id = (field: string) => field.replace('.', '-');

function fieldProblem(ctx: PageContext, v: MailSettingsView, field: string, hint?: string) {
  const message = v.problems?.get(field);
  const described = [...(message ? [`${id(field)}-error`] : []), ...(hint ? [hint] : [])].join(' ');
  return {
    attrs: html`${message ? html` aria-invalid="true"` : ''}${described ? html` aria-describedby="${described}"` : ''}`,
    message: message
      ? html`<p class="field-error" id="${id(field)}-error"><span class="visually-hidden">${ctx.t('form.error.prefix')}</span> ${message}</p>`
      : '',
  };
}

function serviceFields(ctx: PageContext, v: MailSettingsView, s: MailService): Html {
  const { t } = ctx;
  const f = (name: string) => v.form[`${s}.${name}`] ?? '';
  const host = fieldProblem(ctx, v, `${s}.host`, `${s}-host-hint`);
  const port = fieldProblem(ctx, v, `${s}.port`, `${s}-port-hint`);
  const security = fieldProblem(ctx, v, `${s}.security`);
  const usual = USUAL_PORTS[s];
  const dav = isDav(s);
  const path = fieldProblem(ctx, v, `${s}.path`, `${s}-path-hint`);
  return html`<fieldset id="${s}"><legend>${t(`mail_settings.service.${s}`)}</legend>
  <label for="${s}-host">${t('mail_settings.host')}</label>
  ${host.message}<input id="${s}-host" name="${s}.host" type="text" autocomplete="off" spellcheck="false" value="${f('host')}"${host.attrs}>
  <p id="${s}-host-hint" class="hint">${t('mail_settings.host.hint')}</p>
  <label for="${s}-port">${t('mail_settings.port')}</label>
  ${port.message}<input id="${s}-port" name="${s}.port" type="text" inputmode="numeric" autocomplete="off" value="${f('port')}"${port.attrs}>
  <p id="${s}-port-hint" class="hint">${dav ? t('mail_settings.port.hint_dav') : t('mail_settings.port.hint', { tls: usual.tls, starttls: usual.starttls })}</p>
  ${
    dav
      ? html`${security.message}<p class="hint">${t('mail_settings.security.dav')}</p>
  <label for="${s}-path">${t('mail_settings.path')}</label>
  ${path.message}<input id="${s}-path" name="${s}.path" type="text" autocomplete="off" spellcheck="false" value="${f('path')}"${path.attrs}>
  <p id="${s}-path-hint" class="hint">${t('mail_settings.path.hint')}</p>`
      : html`<label for="${s}-security">${t('mail_settings.security')}</label>
  ${security.message}<select id="${s}-security" name="${s}.security"${security.attrs}>${SECURITIES.map((k) => html`<option value="${k}"${f('security') === k ? html` selected` : ''}>${t(`mail_settings.security.${k}`)}</option>`)}</select>`
  }
</fieldset>`;
}

function resultText(ctx: PageContext, r: ServiceCheck): string {
  if (r.ok) return ctx.t('mail_settings.result.ok');
  const stage = r.failed ?? 'connect';
  return ctx.t(`mail_settings.result.${stage}`, {
    service: SERVICE_NAMES[r.service],
    host: r.endpoint.host,
  });
}

function resultsTable(ctx: PageContext, results: ServiceCheck[]): Html {
  const { t } = ctx;
  const rows = results.map((r) => {
    const c = r.certificate;
    const cert = c
      ? html`${t('mail_settings.cert.names')} <code>${(c.names.length ? c.names : [c.subject]).join(', ')}</code>${Number.isFinite(c.validTo) ? html`, ${t('mail_settings.cert.valid_to')} <time datetime="${ctx.time.iso(c.validTo)}">${ctx.time.at(c.validTo)}</time>` : ''}`
      : t('mail_settings.cert.none');
    const server = `${r.endpoint.host.includes(':') ? `[${r.endpoint.host}]` : r.endpoint.host}:${r.endpoint.port}${r.endpoint.path ?? ''}`;
    return html`<tr id="check-${r.service}" class="${r.ok ? 'success' : 'failure'}"><th scope="row">${t(`mail_settings.service.${r.service}`)}</th><td><code>${server}</code></td><td class="outcome">${resultText(ctx, r)}${r.detail ? html`<br>${t('mail_settings.detail')} <code>${r.detail}</code>` : ''}</td><td>${cert}</td></tr>`;
  });
  return html`<section aria-labelledby="check-title"><h2 id="check-title">${t('mail_settings.check.title')}</h2>
<table id="check-results">
<caption>${t('mail_settings.check.caption')}</caption>
<thead><tr><th scope="col">${t('mail_settings.col.service')}</th><th scope="col">${t('mail_settings.col.server')}</th><th scope="col">${t('mail_settings.col.result')}</th><th scope="col">${t('mail_settings.col.certificate')}</th></tr></thead>
<tbody>${rows}</tbody>
</table></section>`;
}

export function mailSettingsPage(ctx: PageContext, v: MailSettingsView): Html {
  const { t } = ctx;
  const address = ctx.user?.address ?? 'ann@example.com';
  const examples = { address, localpart: address.slice(0, address.lastIndexOf('@')) };
  const userName = fieldProblem(ctx, v, 'userName');
  return layout(
    ctx,
    t('mail_settings.title'),
    html`<p>${t('mail_settings.intro')}</p>
${v.saved ? '' : html`<p id="mail-settings-none">${t('mail_settings.none')}</p>`}
${v.results ? resultsTable(ctx, v.results) : ''}
${postForm(
  ctx,
  '/admin/mail-settings',
  html`${MAIL_SERVICES.map((s) => serviceFields(ctx, v, s))}
  <fieldset id="user-name"${v.problems?.has('userName') ? html` aria-describedby="userName-error"` : ''}><legend>${t('mail_settings.user_name')}</legend>
  ${userName.message}${USER_NAME_FORMS.map((k) => html`<label class="check"><input type="radio" name="userName" value="${k}"${v.form.userName === k ? html` checked` : ''}> ${t(`mail_settings.user_name.${k}`, { example: examples[k] })}</label>`)}
  </fieldset>
  <button type="submit" class="primary" id="mail-settings-save">${t('mail_settings.save')}</button>`,
)}
<section aria-labelledby="profiles-title" id="profile-signing"><h2 id="profiles-title">${t('mail_settings.profiles.title')}</h2>
<p>${v.profileSigner ? t('mail_settings.profiles.signed', { subject: v.profileSigner.subject, until: ctx.time.day(v.profileSigner.notAfter) }) : t('mail_settings.profiles.unsigned')}</p></section>
${
  v.saved
    ? html`${postForm(ctx, '/admin/mail-settings/check', html`<p class="hint">${t('mail_settings.check.hint')}</p><button type="submit" id="mail-settings-check">${t('mail_settings.check')}</button>`)}
${postForm(ctx, '/admin/mail-settings/remove', html`<button type="submit" id="mail-settings-remove">${t('mail_settings.remove')}</button>`)}`
    : ''
}`,
    v,
  );
}
