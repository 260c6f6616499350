/** Reading what a browser sent: form fields and who sent them. */
import type { FastifyRequest } from 'fastify';

type Form = Record<string, string | string[] | undefined>;

/** A text field of a parsed form, cut to `max` characters; '' when missing or not text. */
export function field(body: unknown, name: string, max = 1024): string {
  const v = (body as Form | undefined)?.[name];
  return typeof v === 'string' ? v.slice(0, max) : '';
}

/** Every value of a repeated field (checkboxes), each cut to `max` characters. */
export function fieldList(body: unknown, name: string, max = 1024): string[] {
  const v = (body as Form | undefined)?.[name];
  const all = v === undefined ? [] : Array.isArray(v) ? v : [v];
  return all.map((x) => String(x).slice(0, max));
}

/**
 * An app password's pin as a form posts it (issue #20): ticked `pin_locations` and one
 * `pin_network`; both empty is no pin (the domain checks what is there).
 */
export function pinFields(body: unknown): { locationIds: string[]; network: string | null } {
  const network = field(body, 'pin_network', 100).trim();
  return { locationIds: fieldList(body, 'pin_locations', 64).slice(0, 100), network: network || null };
}

/** The client as the sign-in log records it. */
export function clientMeta(req: FastifyRequest) {
  return { ip: req.ip, userAgent: String(req.headers['user-agent'] ?? '') };
}
