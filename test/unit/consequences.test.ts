/**
 * The table of what follows what (src/app/consequences.ts), with fakes for everything it acts on:
 * each event type leads to its handlers, in order, each awaited; an error stops the row and reaches
 * the publisher; nothing is published before the handlers are connected. Exhaustiveness: a table
 * without a row for some event type does not compile (the @ts-expect-error below), and an empty row
 * fails here. The behaviour end to end is proved by the flow, HTTP, security and contract tests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONSEQUENCES,
  type ConsequenceServices,
  type ConsequenceTable,
  createConsequences,
} from '../../src/app/consequences.js';
import type { Actor } from '../../src/domain/accounts/actor.js';
import type { User } from '../../src/domain/accounts/model.js';
import type { DomainEventOf, DomainEventType } from '../../src/domain/events.js';

const AT = 1_700_000_000_000;
const bob: User = {
  id: 'u-bob',
  orgId: 'o-1',
  address: 'bob@contoso.test',
  name: 'Bob',
  status: 'active',
  role: 'user',
  createdAt: 1,
  passwordChangedAt: 2,
  mfaState: 'enforced',
};
const operator: Actor = { kind: 'operator' };

/** Everything the handlers may touch, each call written to `calls` in the order made. */
function fakes(opts: { forwarder?: boolean; slow?: Partial<Record<string, number>> } = {}) {
  const calls: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const call = async (name: string) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const ms = opts.slow?.[name.split(' ')[0]!];
    if (ms !== undefined) await new Promise((r) => setTimeout(r, ms));
    calls.push(name);
    inFlight--;
  };
  const services: ConsequenceServices = {
    clock: { now: () => AT },
    metrics: { lock: (scope, target) => void calls.push(`metrics.lock ${scope} ${target}`) },
    forwarder:
      opts.forwarder === false
        ? undefined
        : { publish: (e) => void calls.push(`forwarder.publish ${JSON.stringify({ ...e, id: undefined })}`) },
    dovecot: {
      revoked: (address) => call(`dovecot.revoked ${address}`),
      policyNarrowed: (domain) => call(`dovecot.policyNarrowed ${domain}`),
    },
    appPasswords: {
      afterPasswordChange: (userId, actor) => call(`appPasswords.afterPasswordChange ${userId} ${actor.kind}`),
      afterMfaDisabled: (user, actor) => call(`appPasswords.afterMfaDisabled ${user.address} ${actor.kind}`),
      list: async (user) => {
        await call(`appPasswords.list ${user.address}`);
        return [{ name: 'Outlook' }, { name: 'Printer' }] as Awaited<
          ReturnType<ConsequenceServices['appPasswords']['list']>
        >;
      },
    },
    notifier: {
      mfaTurnedOff: (to, locale, names, at) => call(`notifier.mfaTurnedOff ${to} ${locale} ${names.join('+')} ${at}`),
    },
    signIn: { unlockAccount: (address) => call(`signIn.unlockAccount ${address}`) },
    accounts: {
      revokePasswordLinks: async (userId) => {
        await call(`accounts.revokePasswordLinks ${userId}`);
        return 0;
      },
    },
    flows: {
      endPendingFlows: (userId, exceptId) => call(`flows.endPendingFlows ${userId} ${exceptId ?? '-'}`),
      forgetDevices: (userId) => call(`flows.forgetDevices ${userId}`),
    },
    oidc: { revokeByAccount: (userId) => call(`oidc.revokeByAccount ${userId}`) },
  };
  return { calls, services, maxInFlight: () => maxInFlight };
}

/** The table as a reader should find it: handler names per event type (every type must be listed here too). */
const TABLE: Record<DomainEventType, string[]> = {
  lock_imposed: ['countLock', 'forwardLock'],
  password_changed: [
    'endPendingFlows',
    'revokePasswordLinks',
    'forgetRememberedDevices',
    'endOidcGrants',
    'liftSignInLock',
    'revokeAppPasswordsByPolicy',
    'dovecotForgetsUser',
  ],
  user_disabled: [
    'endPendingFlows',
    'revokePasswordLinks',
    'forgetRememberedDevices',
    'endOidcGrants',
    'dovecotForgetsUser',
  ],
  user_enabled: ['dovecotForgetsUser'],
  group_member_removed: ['dovecotForgetsUser'],
  registration_required: ['endPendingFlows', 'forgetRememberedDevices', 'endOidcGrants', 'dovecotForgetsUser'],
  sessions_ended: ['endPendingFlows', 'forgetRememberedDevices', 'endOidcGrants'],
  method_removed: ['endPendingFlows', 'forgetRememberedDevices'],
  mfa_disabled: ['tellUserMfaOff', 'revokeAppPasswords'],
  mfa_state_changed: ['forgetDevicesWhenOff', 'dovecotForgetsUser'],
  policy_narrowed: ['dovecotForgetsOrganization'],
  app_passwords_revoked: ['dovecotForgetsUser'],
  app_passwords_expired: ['dovecotForgetsUser'],
  users_changed_in_bulk: ['asEachUser'],
};

/** What every new password of Bob's (no flow kept) leads to first: what the old password started ends. */
const PASSWORD_CALLS = [
  'flows.endPendingFlows u-bob -',
  'accounts.revokePasswordLinks u-bob',
  'flows.forgetDevices u-bob',
  'oidc.revokeByAccount u-bob',
];

/** For every event type, events and the calls each leads to, in order. */
const CASES: { [T in DomainEventType]: [DomainEventOf<T>, string[]][] } = {
  lock_imposed: [
    [
      { type: 'lock_imposed', scope: 'browser', target: 'account' },
      [
        'metrics.lock browser account',
        `forwarder.publish {"type":"lockout","at":${AT},"scope":"browser","target":"account"}`,
      ],
    ],
    [
      { type: 'lock_imposed', scope: 'legacy', target: 'ip' },
      ['metrics.lock legacy ip', `forwarder.publish {"type":"lockout","at":${AT},"scope":"legacy","target":"ip"}`],
    ],
  ],
  password_changed: [
    [
      { type: 'password_changed', userId: bob.id, address: bob.address, via: 'change', actor: operator, first: false },
      [
        ...PASSWORD_CALLS,
        'signIn.unlockAccount bob@contoso.test',
        'appPasswords.afterPasswordChange u-bob operator',
        'dovecot.revoked bob@contoso.test',
      ],
    ],
    // A first password replaced nothing: no app password is revoked for it.
    [
      {
        type: 'password_changed',
        userId: bob.id,
        address: bob.address,
        via: 'set_password_link',
        actor: operator,
        first: true,
      },
      [...PASSWORD_CALLS, 'signIn.unlockAccount bob@contoso.test', 'dovecot.revoked bob@contoso.test'],
    ],
    // A reset's own flow goes on to its end; every other flow of the user ends.
    [
      {
        type: 'password_changed',
        userId: bob.id,
        address: bob.address,
        via: 'reset',
        actor: operator,
        first: false,
        keepFlowId: 'f-reset',
      },
      [
        'flows.endPendingFlows u-bob f-reset',
        'accounts.revokePasswordLinks u-bob',
        'flows.forgetDevices u-bob',
        'oidc.revokeByAccount u-bob',
        'signIn.unlockAccount bob@contoso.test',
        'appPasswords.afterPasswordChange u-bob operator',
        'dovecot.revoked bob@contoso.test',
      ],
    ],
  ],
  user_disabled: [
    [
      { type: 'user_disabled', userId: bob.id, address: bob.address },
      [...PASSWORD_CALLS, 'dovecot.revoked bob@contoso.test'],
    ],
  ],
  user_enabled: [
    [{ type: 'user_enabled', userId: bob.id, address: bob.address }, ['dovecot.revoked bob@contoso.test']],
  ],
  group_member_removed: [
    [
      { type: 'group_member_removed', userId: bob.id, address: bob.address, groupId: 'g-1' },
      ['dovecot.revoked bob@contoso.test'],
    ],
  ],
  registration_required: [
    [
      { type: 'registration_required', userId: bob.id, address: bob.address },
      [
        'flows.endPendingFlows u-bob -',
        'flows.forgetDevices u-bob',
        'oidc.revokeByAccount u-bob',
        'dovecot.revoked bob@contoso.test',
      ],
    ],
  ],
  sessions_ended: [
    [
      { type: 'sessions_ended', userId: bob.id, address: bob.address, by: 'owner' },
      ['flows.endPendingFlows u-bob -', 'flows.forgetDevices u-bob', 'oidc.revokeByAccount u-bob'],
    ],
  ],
  method_removed: [
    [
      { type: 'method_removed', userId: bob.id, address: bob.address, last: false },
      ['flows.endPendingFlows u-bob -', 'flows.forgetDevices u-bob'],
    ],
    // An authenticator app replaced by a newer one: the flow that registered the newer one goes on.
    [
      { type: 'method_removed', userId: bob.id, address: bob.address, last: false, keepFlowId: 'f-add' },
      ['flows.endPendingFlows u-bob f-add', 'flows.forgetDevices u-bob'],
    ],
  ],
  mfa_disabled: [
    [
      { type: 'mfa_disabled', user: bob, actor: operator, locale: 'nl' },
      [
        'appPasswords.list bob@contoso.test',
        `notifier.mfaTurnedOff bob@contoso.test nl Outlook+Printer ${AT}`,
        'appPasswords.afterMfaDisabled bob@contoso.test operator',
      ],
    ],
  ],
  mfa_state_changed: [
    [
      { type: 'mfa_state_changed', userId: bob.id, address: bob.address, state: 'enforced' },
      ['dovecot.revoked bob@contoso.test'],
    ],
    [
      { type: 'mfa_state_changed', userId: bob.id, address: bob.address, state: 'disabled' },
      ['flows.forgetDevices u-bob', 'dovecot.revoked bob@contoso.test'],
    ],
  ],
  policy_narrowed: [
    [
      { type: 'policy_narrowed', org: { id: 'o-1', domain: 'contoso.test', name: 'Contoso', createdAt: 1 } },
      ['dovecot.policyNarrowed contoso.test'],
    ],
  ],
  app_passwords_revoked: [
    [{ type: 'app_passwords_revoked', address: bob.address }, ['dovecot.revoked bob@contoso.test']],
  ],
  app_passwords_expired: [
    [{ type: 'app_passwords_expired', address: bob.address }, ['dovecot.revoked bob@contoso.test']],
  ],
  // Each user of a bulk change: the single change's row (two users, so both run at once, interleaved).
  users_changed_in_bulk: [
    [
      {
        type: 'users_changed_in_bulk',
        locale: 'en',
        operation: 'mfa',
        users: [{ userId: 'u-a', address: 'a@contoso.test', state: 'disabled' }],
      },
      ['flows.forgetDevices u-a', 'dovecot.revoked a@contoso.test'],
    ],
    // MFA off in bulk: each user is told which app passwords went, in the admin's language.
    [
      {
        type: 'users_changed_in_bulk',
        locale: 'nl',
        operation: 'mfa',
        users: [{ userId: 'u-a', address: 'a@contoso.test', state: 'disabled', appPasswordsGone: ['Mail', 'Agenda'] }],
      },
      [
        'flows.forgetDevices u-a',
        'dovecot.revoked a@contoso.test',
        `notifier.mfaTurnedOff a@contoso.test nl Mail+Agenda ${AT}`,
      ],
    ],
    [
      {
        type: 'users_changed_in_bulk',
        locale: 'en',
        operation: 'disable',
        users: [{ userId: 'u-a', address: 'a@contoso.test' }],
      },
      [
        'flows.endPendingFlows u-a -',
        'accounts.revokePasswordLinks u-a',
        'flows.forgetDevices u-a',
        'oidc.revokeByAccount u-a',
        'dovecot.revoked a@contoso.test',
      ],
    ],
    [
      {
        type: 'users_changed_in_bulk',
        locale: 'en',
        operation: 'reregister',
        users: [{ userId: 'u-a', address: 'a@contoso.test' }],
      },
      [
        'flows.endPendingFlows u-a -',
        'flows.forgetDevices u-a',
        'oidc.revokeByAccount u-a',
        'dovecot.revoked a@contoso.test',
      ],
    ],
  ],
};

describe('consequences of domain events', () => {
  it('has a row for every event type, none empty, with the handlers a reader expects', () => {
    assert.deepEqual(Object.keys(CONSEQUENCES).sort(), Object.keys(TABLE).sort());
    for (const [type, handlers] of Object.entries(CONSEQUENCES)) {
      assert.ok(handlers.length > 0, `${type} has no consequence`);
      assert.deepEqual(
        handlers.map((h) => h.name),
        TABLE[type as DomainEventType],
        type,
      );
    }
    // A table that forgets an event type is a compile error, not a silent no-op.
    const { users_changed_in_bulk: dropped, ...rest } = CONSEQUENCES;
    // @ts-expect-error: property 'users_changed_in_bulk' is missing
    const incomplete: ConsequenceTable = rest;
    assert.ok(dropped && incomplete);
  });

  for (const [type, cases] of Object.entries(CASES)) {
    it(`${type} leads to its handlers, in order`, async () => {
      for (const [event, expected] of cases) {
        const f = fakes();
        const events = createConsequences();
        events.connect(f.services);
        await events.publish(event);
        assert.deepEqual(f.calls, expected);
      }
    });
  }

  it('a lock without a SIEM configured is still counted', async () => {
    const f = fakes({ forwarder: false });
    const events = createConsequences();
    events.connect(f.services);
    await events.publish({ type: 'lock_imposed', scope: 'legacy', target: 'account' });
    assert.deepEqual(f.calls, ['metrics.lock legacy account']);
  });

  it('awaits each handler before the next, and every one before publish() resolves', async () => {
    const f = fakes({ slow: { 'signIn.unlockAccount': 30, 'appPasswords.afterPasswordChange': 10 } });
    const events = createConsequences();
    events.connect(f.services);
    await events.publish({
      type: 'password_changed',
      userId: bob.id,
      address: bob.address,
      via: 'reset',
      actor: operator,
      first: false,
    });
    f.calls.push('published');
    assert.deepEqual(f.calls, [
      ...PASSWORD_CALLS,
      'signIn.unlockAccount bob@contoso.test',
      'appPasswords.afterPasswordChange u-bob operator',
      'dovecot.revoked bob@contoso.test',
      'published',
    ]);
  });

  it('follows a bulk change for each of its users, 8 at a time', async () => {
    const f = fakes({ slow: { 'dovecot.revoked': 5 } });
    const events = createConsequences();
    events.connect(f.services);
    const addresses = Array.from({ length: 30 }, (_, i) => `u${i}@contoso.test`);
    await events.publish({
      type: 'users_changed_in_bulk',
      locale: 'en',
      operation: 'mfa',
      users: addresses.map((address, i) => ({ userId: `u${i}`, address, state: 'enforced' as const })),
    });
    assert.deepEqual([...f.calls].sort(), addresses.map((a) => `dovecot.revoked ${a}`).sort());
    assert.equal(f.maxInFlight(), 8);
  });

  it('an error in a handler stops its row and reaches the publisher', async () => {
    const f = fakes();
    f.services.signIn = { unlockAccount: async () => Promise.reject(new Error('store gone')) };
    const events = createConsequences();
    events.connect(f.services);
    await assert.rejects(
      events.publish({
        type: 'password_changed',
        userId: bob.id,
        address: bob.address,
        via: 'direct',
        actor: operator,
        first: false,
      }),
      /store gone/,
    );
    // What came before the failing handler ran; nothing after it did.
    assert.deepEqual(f.calls, [...PASSWORD_CALLS]);
  });

  it('refuses to publish before its handlers are connected, and to connect twice', async () => {
    const events = createConsequences();
    await assert.rejects(
      events.publish({ type: 'user_disabled', userId: bob.id, address: bob.address }),
      /user_disabled published before the consequences were connected/,
    );
    events.connect(fakes().services);
    assert.throws(() => events.connect(fakes().services), /connected twice/);
  });
});
