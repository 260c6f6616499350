/**
 * Delivers forwarded events (domain/audit/forwarding.ts) to a webhook and/or a syslog server.
 * Each destination has its own batch queue (platform/batch-queue.ts), so a slow or broken one
 * never holds up the other, and the request that caused an event only pushes it onto a queue.
 * A batch that fails is held and tried again with growing waits (1, 2, 4, 8 s, then every 30 s,
 * 8 times: about three minutes), then given up with one error line saying how many were lost.
 * A batch whose delivery only seemed to fail may arrive twice; every event has a unique `id`.
 *
 * Webhook: `POST` of `{"events":[...]}` (JSON), with `X-Sesame-Timestamp` (Unix seconds) and
 * `X-Sesame-Signature: v1=<hex HMAC-SHA-256 of "<timestamp>.<body>" under the shared secret>`,
 * so the receiver can check both origin and freshness. Only a 2xx answer counts; redirects are
 * not followed.
 */
import { createHmac } from 'node:crypto';
import os from 'node:os';
import type { EventSink, ForwardedEvent } from '../../domain/audit/forwarding.js';
import { BatchQueue } from '../../lib/batch-queue.js';
import { createSyslogTransport, formatRfc5424, parseSyslogUrl, type SyslogTransport } from './syslog.js';

export const SIGNATURE_HEADER = 'X-Sesame-Signature';
export const TIMESTAMP_HEADER = 'X-Sesame-Timestamp';
/** SD-ID of Sesame's structured data: 32473 is the private enterprise number RFC 5612 reserves for documentation; rename in your SIEM's parser if you like. */
export const SD_ID = 'sesame@32473';

export interface ForwardingSettings {
  eventWebhookUrl: string;
  eventWebhookSecret: string;
  syslogUrl: string;
  syslogFacility: number;
}

export interface ForwardingTuning {
  retryDelayMs?: number;
  retryMaxDelayMs?: number;
  retries?: number;
  timeoutMs?: number;
  intervalMs?: number;
  hostname?: string;
}

export interface EventForwarder extends EventSink {
  /** Where events go, by name (origin and path of the webhook, never its secret). */
  readonly destinations: string[];
  flush(): Promise<void>;
  close(): Promise<void>;
}

interface Logger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The hex signature a receiver recomputes: HMAC-SHA-256 of `<timestamp>.<body>`. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** Events as delivered: the organization's domain added, which a SIEM can read (an id it cannot). */
type Delivered = ForwardedEvent & { orgDomain?: string };

/**
 * Builds the forwarder from configuration; undefined when no destination is configured.
 * `orgDomain` names an organization by id; it is asked when a batch is sent (never in `publish`,
 * which must not wait) and its answers are kept, since a domain never changes.
 */
export function createEventForwarder(
  s: ForwardingSettings,
  log: Logger,
  tuning: ForwardingTuning = {},
  orgDomain: (orgId: string) => Promise<string | undefined> = async () => undefined,
): EventForwarder | undefined {
  const domains = new Map<string, string | undefined>();
  const withDomains = async (events: ForwardedEvent[]): Promise<Delivered[]> => {
    for (const e of events) {
      const id = 'orgId' in e ? e.orgId : null;
      if (id && !domains.has(id)) domains.set(id, await orgDomain(id));
    }
    return events.map((e) => {
      const d = 'orgId' in e && e.orgId ? domains.get(e.orgId) : undefined;
      return d ? { ...e, orgDomain: d } : e;
    });
  };
  const queues: { name: string; queue: BatchQueue<ForwardedEvent>; close?: () => Promise<void> }[] = [];
  const retry = {
    retries: tuning.retries ?? 8,
    retryDelayMs: tuning.retryDelayMs ?? 1000,
    retryMaxDelayMs: tuning.retryMaxDelayMs ?? 30_000,
    intervalMs: tuning.intervalMs ?? 100,
  };
  const timeoutMs = tuning.timeoutMs ?? 5000;
  // Once an attempt failed, the other batches of the same pass fail at once instead of each
  // waiting for its own timeout: a flush at shutdown with a backlog to a dead destination then
  // costs one timeout, not one per batch. The next retry, a moment later, tries the network again.
  const fastFailMs = Math.min(retry.retryDelayMs, 1000) / 2;
  const queueFor = (name: string, chunk: number, send: (items: ForwardedEvent[]) => Promise<void>) => {
    let failedAt = -Infinity;
    return new BatchQueue<ForwardedEvent>({
      ...retry,
      chunk,
      write: async (items) => {
        if (performance.now() - failedAt < fastFailMs) throw new Error('destination failed a moment ago');
        try {
          await send(items);
        } catch (e) {
          failedAt = performance.now();
          throw e;
        }
      },
      onRetry: (e, items, attempt) =>
        log.warn(
          { destination: name, err: describe(e), held: items.length, attempt },
          'event forwarding failed: will retry',
        ),
      onError: (e, items) =>
        log.error(
          { destination: name, err: describe(e), lost: items.length },
          'event forwarding gave up: events not delivered',
        ),
    });
  };
  if (s.eventWebhookUrl) {
    const url = new URL(s.eventWebhookUrl);
    const secret = s.eventWebhookSecret;
    queues.push({
      name: `webhook ${url.origin}${url.pathname}`,
      queue: queueFor('webhook', 100, async (events) => {
        const body = JSON.stringify({ events: (await withDomains(events)).map(wireEvent) });
        const timestamp = String(Math.floor(Date.now() / 1000));
        const res = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [TIMESTAMP_HEADER]: timestamp,
            [SIGNATURE_HEADER]: `v1=${webhookSignature(secret, timestamp, body)}`,
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.body?.cancel().catch(() => undefined);
        if (res.status < 200 || res.status > 299) throw new Error(`webhook answered ${res.status}`);
      }),
    });
  }
  if (s.syslogUrl) {
    const target = parseSyslogUrl(s.syslogUrl);
    if (target instanceof Error) throw new Error(`SESAME_SYSLOG_URL ${target.message}`);
    const transport: SyslogTransport = createSyslogTransport(target, timeoutMs);
    const hostname = tuning.hostname ?? os.hostname();
    queues.push({
      name: `syslog ${target.protocol}://${target.host}:${target.port}`,
      queue: queueFor('syslog', 200, async (events) =>
        transport.send((await withDomains(events)).map((e) => syslogLine(e, s.syslogFacility, hostname))),
      ),
      close: () => transport.close(),
    });
  }
  if (queues.length === 0) return undefined;
  return {
    destinations: queues.map((q) => q.name),
    publish(e) {
      for (const q of queues) q.queue.push(e);
    },
    async flush() {
      await Promise.all(queues.map((q) => q.queue.flush()));
    },
    async close() {
      await Promise.all(queues.map((q) => q.queue.close()));
      await Promise.all(queues.map((q) => q.close?.()));
    },
  };
}

/** The event on the wire: times as ISO 8601 (UTC), like the JSON API. */
export function wireEvent(e: Delivered): Record<string, unknown> {
  return { ...e, at: new Date(e.at).toISOString() };
}

/** RFC 5424 severities: locks and refused-while-locked attempts warn, failures and admin changes are notices. */
function severity(e: ForwardedEvent): number {
  if (e.type === 'lockout') return 4;
  if (e.type === 'audit') return 5;
  return e.outcome === 'success' ? 6 : e.outcome === 'throttled' ? 4 : 5;
}

/** One event as an RFC 5424 line: MSGID is the event type, the fields are structured data, MSG a short sentence. */
export function syslogLine(e: Delivered, facility: number, hostname: string): string {
  const params: [string, string][] = [['id', e.id]];
  let msg: string;
  const opt = (k: string, v: string | null) => {
    if (v) params.push([k, v]);
  };
  if (e.type === 'sign_in') {
    params.push(
      ['outcome', e.outcome],
      ['reason', e.reason],
      ['protocol', e.protocol],
      ['address', e.address.slice(0, 254)],
      ['ip', e.ip],
    );
    opt('org', e.orgId);
    opt('org_domain', e.orgDomain ?? null);
    opt('user', e.userId);
    opt('app_password', e.appPasswordId);
    opt('user_agent', e.userAgent.slice(0, 200));
    msg = `sign-in ${e.outcome} (${e.reason}) for ${e.address.slice(0, 254)} over ${e.protocol} from ${e.ip}`;
  } else if (e.type === 'audit') {
    params.push(['action', e.action], ['actor', e.actor]);
    opt('org', e.orgId);
    opt('org_domain', e.orgDomain ?? null);
    opt('actor_id', e.actorId);
    opt('target', e.targetUserId);
    params.push(['detail', e.detail.slice(0, 500)]);
    msg = `${e.action} by ${e.actor}`;
  } else {
    params.push(['scope', e.scope], ['target', e.target]);
    msg = `${e.scope} ${e.target} locked`;
  }
  return formatRfc5424({
    facility,
    severity: severity(e),
    timestamp: e.at,
    hostname,
    appName: 'sesame',
    procId: String(process.pid),
    msgId: e.type,
    sd: [{ id: SD_ID, params }],
    msg,
  });
}

function describe(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: unknown } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') return 'no answer in time';
  const code = typeof err?.cause?.code === 'string' ? ` (${err.cause.code})` : '';
  return `${err?.message ?? String(e)}${code}`;
}
