/**
 * The Users page as every admin action answers it: the listing with the query string's filters,
 * sort and cursor, plus a notice, an error or a new set-password link.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { DirectoryPage } from '../../domain/accounts/directory.js';
import { isSesameError } from '../../domain/errors.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { actorOf } from '../../web/guards.js';
import { pageContext, send, userMessage } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import { usersPage, type UsersQuery } from './users-pages.js';

const PAGE = 50;

/** The Users page's query parameters besides the cursor (see UserListRequest). */
const USERS_QUERY_KEYS = ['q', 'mfa', 'method', 'appPasswords', 'status', 'lastSignIn', 'sort', 'order'] as const;

export interface UsersPageExtra {
  notice?: string;
  error?: string;
  link?: { address: string; url: string; expires: string };
}

export async function showUsers(
  s: Pick<Services, 'directory'>,
  req: FastifyRequest,
  reply: FastifyReply,
  extra: UsersPageExtra = {},
  status = 200,
) {
  // Filters, sort and cursor from the query string (a POST answered with this page keeps its own page's query).
  const raw = req.query as Record<string, string | undefined>;
  const query: UsersQuery = Object.fromEntries(
    USERS_QUERY_KEYS.map((k) => [k, typeof raw[k] === 'string' ? raw[k]!.slice(0, 100) : undefined]),
  );
  let page: DirectoryPage;
  try {
    page = await s.directory.list(actorOf(req), req.user!.orgId, {
      ...query,
      cursor: typeof raw.cursor === 'string' ? raw.cursor.slice(0, 500) : undefined,
      limit: PAGE,
    });
  } catch (e) {
    // A tampered filter or cursor: the page without them, and why.
    if (!isSesameError(e) || e.code !== 'invalid_input') throw e;
    page = await s.directory.list(actorOf(req), req.user!.orgId, { limit: PAGE });
    return send(
      reply,
      usersPage(pageContext(req, reply, '/admin/users'), {
        page,
        query: {},
        ...extra,
        error: userMessage(req, e),
      }),
      HTTP_STATUS[e.code],
    );
  }
  return send(reply, usersPage(pageContext(req, reply, '/admin/users'), { page, query, ...extra }), status);
}
