/** `sesame org add <domain> [--name NAME]`, `sesame org policy <domain> [options]` and `sesame org mail-settings` (mail-settings.ts). */
import { OPERATOR } from '../../domain/accounts/actor.js';
import type { CommandGroup } from '../command.js';
import { withContext } from '../context.js';
import { parse, UsageError } from '../io.js';
import { mailSettingsCommand } from './mail-settings.js';

/** The app-password flags of `org policy`; wrong values are usage errors (exit 2), checked before anything opens. */
function appPasswordOptions(v: Record<string, string | undefined>) {
  const onOff = (name: string) => {
    const x = v[name];
    if (x === undefined) return undefined;
    if (x !== 'on' && x !== 'off') throw new UsageError(`--${name} takes on or off`);
    return x === 'on';
  };
  const num = (name: string, allowNever: boolean) => {
    const x = v[name];
    if (x === undefined) return undefined;
    if (allowNever && x === 'never') return null;
    if (!/^\d{1,4}$/.test(x)) throw new UsageError(`--${name} takes a whole number${allowNever ? ' or never' : ''}`);
    return Number(x);
  };
  const out = {
    allowed: onOff('app-passwords'),
    keepExistingWhenOff: onOff('app-passwords-keep'),
    cap: num('app-password-cap', false) ?? undefined,
    protocols: v['app-password-protocols']?.split(',').map((p) => p.trim()),
    maxLifetimeDays: num('app-password-max-days', true),
    revokeUnusedDays: num('app-password-unused-days', true),
    revokeOnPasswordChange: onOff('revoke-on-password-change'),
    notifyAdminsNewCountry: onOff('notify-admins-new-country'),
  };
  return Object.values(out).some((x) => x !== undefined) ? out : undefined;
}

const POLICY_FLAGS = {
  'mfa-default': { type: 'string' },
  methods: { type: 'string' },
  'remember-days': { type: 'string' },
  'app-passwords': { type: 'string' },
  'app-passwords-keep': { type: 'string' },
  'app-password-cap': { type: 'string' },
  'app-password-protocols': { type: 'string' },
  'app-password-max-days': { type: 'string' },
  'app-password-unused-days': { type: 'string' },
  'revoke-on-password-change': { type: 'string' },
  'notify-admins-new-country': { type: 'string' },
  'legacy-main-password': { type: 'string' },
  'phone-countries': { type: 'string' },
  'time-zone': { type: 'string' },
  'default-country': { type: 'string' },
} as const;

export const org: CommandGroup = {
  async run({ verb, rest, config, io }) {
    if (verb === 'add') {
      // Parse before touching the store, so wrong usage changes nothing.
      const p = parse(rest, { name: { type: 'string' } }, 1);
      const name = (p.values as { name?: string }).name;
      return withContext(config, async (ctx) => {
        const o = await ctx.accounts.addOrganization(OPERATOR, p.positionals[0]!, name);
        io.out(`organization ${o.domain} ("${o.name}") added`);
        return 0;
      });
    }
    if (verb === 'policy') {
      const p = parse(rest, POLICY_FLAGS, 1);
      const v = p.values as Record<string, string | undefined>;
      const days = v['remember-days'];
      if (days !== undefined && !/^\d{1,3}$/.test(days))
        throw new UsageError('--remember-days takes a whole number from 0 to 365');
      const ap = appPasswordOptions(v);
      return withContext(config, async (ctx) => {
        const o = await ctx.accounts.organizationByDomain(p.positionals[0]!);
        const change = {
          legacyMainPassword: v['legacy-main-password'],
          mfaDefault: v['mfa-default'],
          allowedMethods: v.methods?.split(',').map((m) => m.trim()),
          rememberDays: days === undefined ? undefined : Number(days),
          phoneCountries: v['phone-countries'],
          timeZone: v['time-zone'],
          defaultCountry: v['default-country'],
          appPasswords: ap,
        };
        const pol = Object.values(change).some((x) => x !== undefined)
          ? await ctx.mfaAdmin.setPolicy(OPERATOR, o.id, change)
          : await ctx.mfaAdmin.getPolicy(OPERATOR, o.id);
        const a = pol.appPasswords;
        io.out(
          `organization ${o.domain}: mfa-default=${pol.mfaDefault} methods=${pol.allowedMethods.join(',')} remember-days=${pol.rememberDays} legacy-main-password=${pol.legacyMainPassword}`,
        );
        io.out(
          `app passwords: ${a.allowed ? 'on' : 'off'} keep-when-off=${a.keepExistingWhenOff ? 'on' : 'off'} cap=${a.cap} protocols=${a.protocols.join(',')} ` +
            `max-days=${a.maxLifetimeDays ?? 'never'} unused-days=${a.revokeUnusedDays ?? 'never'} revoke-on-password-change=${a.revokeOnPasswordChange ? 'on' : 'off'} ` +
            `notify-admins-new-country=${a.notifyAdminsNewCountry ? 'on' : 'off'}`,
        );
        io.out(
          `phone-countries=${pol.phoneCountries?.join(',') ?? 'default'} time-zone=${pol.timeZone ?? 'UTC'} default-country=${pol.defaultCountry ?? 'none'}`,
        );
        return 0;
      });
    }
    if (verb === 'mail-settings') return mailSettingsCommand(rest, config, io);
    throw new UsageError(`unknown command "${`org ${verb ?? ''}`.trim()}"`);
  },
};
