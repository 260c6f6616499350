/**
 * Starts the LDAP interface (src/adapters/ldap/) when SESAME_LDAP_PORT or SESAME_LDAPS_PORT is
 * set, on the context the HTTP server uses: the same verifier (sign-in log, lockout, throttles),
 * the same store. Groups (ou=groups, memberOf) are the organization's groups (domain/groups).
 */
import fs from 'node:fs/promises';
import { isSesameError } from '../domain/errors.js';
import type { GroupReads } from '../domain/directory/reads.js';
import { KyselyGroupRepository } from '../storage/group-repository.js';
import { KyselyPeopleReads } from '../storage/people-reads.js';
import { KyselyPosixIds } from '../storage/posix-ids.js';
import { type LdapDeps, LdapServer } from '../adapters/ldap/server.js';
import { ConfigError } from '../config/config.js';
import type { AppContext } from './context.js';

export interface RunningLdap {
  /** Where it listens, for the start-up log line. */
  ports: { ldap?: number; ldaps?: number };
  close(): Promise<void>;
}

export async function startLdap(ctx: AppContext, log: LdapDeps['log']): Promise<RunningLdap | undefined> {
  const c = ctx.config;
  if (!c.ldapPort && !c.ldapsPort) return undefined;
  let cert: Buffer;
  let key: Buffer;
  try {
    [cert, key] = await Promise.all([fs.readFile(c.ldapTlsCertFile), fs.readFile(c.ldapTlsKeyFile)]);
  } catch (e) {
    throw new ConfigError([
      `SESAME_LDAP_TLS_CERT_FILE or SESAME_LDAP_TLS_KEY_FILE cannot be read: ${e instanceof Error ? e.message : String(e)}`,
    ]);
  }
  const people = new KyselyPeopleReads(ctx.store.db);
  const groupRepo = new KyselyGroupRepository(ctx.store.db);
  const posixIds = new KyselyPosixIds(ctx.store.db);
  const groups: GroupReads = {
    // Read at each search: a member removed is gone from the directory at the next one.
    groups: async (orgId) => {
      const list = await groupRepo.list(orgId);
      const numbers = await posixIds.numbersFor(list.map((g) => g.id));
      return Promise.all(
        list.map(async (g) => ({
          id: g.id,
          name: g.name,
          posixId: numbers.get(g.id)!,
          members: (await groupRepo.members(g.id)).map((m) => m.address),
        })),
      );
    },
    groupsOf: async (orgId, userId) =>
      (await groupRepo.groupsOf(userId)).filter((g) => g.orgId === orgId).map((g) => g.name),
  };
  let server: LdapServer;
  try {
    server = new LdapServer(
      {
        verifier: ctx.legacy,
        accounts: {
          findUserByAddress: (a) => ctx.accounts.findUserByAddressOrNull(a),
          findOrganizationByDomain: (domain) =>
            ctx.accounts.organizationByDomain(domain).catch((e: unknown) => {
              if (isSesameError(e) && (e.code === 'organization_not_found' || e.code === 'invalid_domain'))
                return undefined;
              throw e;
            }),
          findOrganizationById: (id) =>
            ctx.accounts.getOrganization(id).catch((e: unknown) => {
              if (isSesameError(e) && e.code === 'organization_not_found') return undefined;
              throw e;
            }),
        },
        integrations: ctx.integrations,
        directory: {
          activePeople: (o, l) => people.activePeople(o, l),
          activePerson: (o, a) => people.activePerson(o, a),
          ...groups,
        },
        metrics: ctx.metrics,
        log,
      },
      {
        cert,
        key,
        maxConnections: c.ldapMaxConnections,
        maxConnectionsPerIp: c.ldapMaxConnectionsPerIp,
        idleSeconds: c.ldapIdleTimeoutSeconds,
        sizeLimit: c.ldapSizeLimit,
      },
    );
  } catch (e) {
    throw new ConfigError([
      `SESAME_LDAP_TLS_CERT_FILE and SESAME_LDAP_TLS_KEY_FILE are not a usable certificate and key: ${e instanceof Error ? e.message : String(e)}`,
    ]);
  }
  const host = c.ldapHost || c.host;
  const ports: RunningLdap['ports'] = {};
  try {
    if (c.ldapPort) ports.ldap = await server.listen(c.ldapPort, host, false);
    if (c.ldapsPort) ports.ldaps = await server.listen(c.ldapsPort, host, true);
  } catch (e) {
    await server.close();
    throw e;
  }
  return { ports, close: () => server.close() };
}
