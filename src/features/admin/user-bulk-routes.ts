/**
 * The bulk-change pages of the admin Users console: the checked users (a plain form) or an
 * uploaded CSV file (multipart, @fastify/multipart in this plugin's scope only, so no other route
 * takes multipart bodies) lead to a preview; Apply sends the previewed rows back with the plan's
 * fingerprint and shows a result per row. Every POST carries the CSRF token, the upload's in a
 * form field like the others. The domain (BulkChanges) checks every row and writes in one
 * transaction; this file only translates.
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteShorthandOptions } from 'fastify';
import { type BulkOperation, type BulkRowInput, isBulkOperation } from '../../domain/accounts/bulk-changes.js';
import { bulkRowsFromCsv } from '../../domain/accounts/user-csv.js';
import { isSesameError, SesameError } from '../../domain/errors.js';
import { HTTP_STATUS } from '../../web/errors.js';
import { field } from '../../web/forms.js';
import { actorOf } from '../../web/guards.js';
import { messagePage } from '../../web/layout.js';
import { pageContext, send, userMessage } from '../../web/respond.js';
import type { Services } from '../../web/services.js';
import { showUsers } from './users-list.js';
import { bulkPreviewPage, bulkResultPage, SELECTION_OPS, WEB_BULK_MAX_ROWS } from './users-pages.js';

/** The CSV file may be up to this size (about 20 times the web's row limit of typical rows). */
const UPLOAD_MAX_BYTES = 1024 * 1024;
/** Apply carries the previewed rows back: room for WEB_BULK_MAX_ROWS rows of long addresses. */
const APPLY_BODY_MAX = 2 * 1024 * 1024;

type Body = Record<string, unknown>;

/** The rows as the preview's Apply form carries them: `[[row, address, state?], ...]`. */
function rowsField(rows: BulkRowInput[]): string {
  return JSON.stringify(rows.map((r) => (r.state === undefined ? [r.row, r.address] : [r.row, r.address, r.state])));
}

function rowsFromField(raw: string): BulkRowInput[] {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new SesameError('invalid_input', 'bulk apply: rows are not JSON');
  }
  const ok = (r: unknown): r is [number, string, string?] =>
    Array.isArray(r) &&
    (r.length === 2 || r.length === 3) &&
    Number.isSafeInteger(r[0]) &&
    typeof r[1] === 'string' &&
    r[1].length <= 300 &&
    (r[2] === undefined || (typeof r[2] === 'string' && r[2].length <= 40));
  if (!Array.isArray(v) || !v.every(ok)) throw new SesameError('invalid_input', 'bulk apply: rows are not rows');
  return v.map(([row, address, state]) => ({ row, address, state }));
}

/** `adminForm` carries the CSRF check and the admin guard, in that order. */
export function registerUserBulkRoutes(app: FastifyInstance, ctx: Services, adminForm: RouteShorthandOptions): void {
  async function preview(req: FastifyRequest, reply: FastifyReply, op: BulkOperation, rows: BulkRowInput[]) {
    if (rows.length > WEB_BULK_MAX_ROWS)
      throw new SesameError('bulk_too_large', `web bulk change of ${rows.length} rows`, {
        params: { max: WEB_BULK_MAX_ROWS },
      });
    const plan = await ctx.bulkChanges.plan(actorOf(req), req.user!.orgId, op, rows);
    return send(
      reply,
      bulkPreviewPage(pageContext(req, reply, '/admin/users'), { plan, rowsField: rowsField(rows) }),
      plan.problems ? 400 : 200,
    );
  }

  /** Runs a bulk step; a refusal of the whole request goes back to the Users page with its message. */
  const step =
    (handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply) => {
      try {
        return await handler(req, reply);
      } catch (e) {
        if (!isSesameError(e)) throw e;
        req.log.info({ code: e.code, detail: e.detail }, 'bulk change refused');
        return showUsers(ctx, req, reply, { error: userMessage(req, e) }, HTTP_STATUS[e.code]);
      }
    };

  app.post(
    '/admin/users/bulk/preview',
    adminForm,
    step(async (req, reply) => {
      const op = field(req.body, 'op', 20);
      if (!(SELECTION_OPS as readonly string[]).includes(op))
        throw new SesameError('invalid_input', `bulk selection op ${op}`);
      const raw = (req.body as Body).address;
      const addresses = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter(
        (a): a is string => typeof a === 'string',
      );
      const [kind, state] = op.split(':') as [BulkOperation, string | undefined];
      return preview(
        req,
        reply,
        kind,
        addresses.map((address, i) => ({ row: i + 1, address: address.slice(0, 300), state })),
      );
    }),
  );

  void app.register(async (uploads) => {
    await uploads.register(multipart, {
      attachFieldsToBody: 'keyValues',
      limits: { fileSize: UPLOAD_MAX_BYTES, files: 1, fields: 4, parts: 5 },
    });
    // A file over the limit fails while the body is read, before the session is loaded: say what
    // the limit is (the generic "not valid" would not), everything else goes to the app's handler.
    uploads.setErrorHandler(async (err, req, reply) => {
      if ((err as { code?: string }).code !== 'FST_REQ_FILE_TOO_LARGE') throw err;
      req.log.info({ code: 'bulk_too_large' }, 'bulk upload over the size limit');
      return send(
        reply,
        messagePage(
          pageContext(req, reply, '/admin/users'),
          'page.error.title',
          req.t('error.bulk_too_large', { max: WEB_BULK_MAX_ROWS }),
          'error',
        ),
        HTTP_STATUS.bulk_too_large,
      );
    });
    uploads.post(
      '/admin/users/bulk/upload',
      adminForm,
      step(async (req, reply) => {
        const op = field(req.body, 'op', 20);
        if (!isBulkOperation(op)) throw new SesameError('invalid_input', `bulk upload op ${op}`);
        const file = (req.body as Body).file;
        const bytes = Buffer.isBuffer(file) ? file : Buffer.from(typeof file === 'string' ? file : '', 'utf8');
        return preview(req, reply, op, bulkRowsFromCsv(bytes, op));
      }),
    );
  });

  app.post(
    '/admin/users/bulk/apply',
    { ...adminForm, bodyLimit: APPLY_BODY_MAX },
    step(async (req, reply) => {
      const op = field(req.body, 'op', 20);
      if (!isBulkOperation(op)) throw new SesameError('invalid_input', `bulk apply op ${op}`);
      const rows = rowsFromField(field(req.body, 'rows', APPLY_BODY_MAX));
      if (rows.length > WEB_BULK_MAX_ROWS)
        throw new SesameError('bulk_too_large', `web bulk change of ${rows.length} rows`, {
          params: { max: WEB_BULK_MAX_ROWS },
        });
      const actor = actorOf(req);
      try {
        const r = await ctx.bulkChanges.apply(
          actor,
          req.user!.orgId,
          op,
          rows,
          field(req.body, 'fingerprint', 100),
          undefined,
          req.locale,
        );
        const pc = pageContext(req, reply, '/admin/users');
        // A row went bad since the preview (a user removed, say): show the rows again, changed nothing.
        if (r.plan.problems) return send(reply, bulkPreviewPage(pc, { plan: r.plan, rowsField: rowsField(rows) }), 400);
        return send(reply, bulkResultPage(pc, r));
      } catch (e) {
        if (!isSesameError(e) || e.code !== 'bulk_stale') throw e;
        // The users moved on since the preview: a fresh preview, with the reason, and nothing changed.
        const plan = await ctx.bulkChanges.plan(actor, req.user!.orgId, op, rows);
        return send(
          reply,
          bulkPreviewPage(pageContext(req, reply, '/admin/users'), {
            plan,
            rowsField: rowsField(rows),
            error: req.t('error.bulk_stale'),
          }),
          HTTP_STATUS.bulk_stale,
        );
      }
    }),
  );
}
