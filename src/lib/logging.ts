/**
 * Log options shared by the server and tests. Logs are JSON lines (pino), so a user agent with
 * CR/LF cannot forge a line. Secrets never reach them: headers that carry credentials are
 * redacted, and request URLs are logged without their query string, which may hold a one-time
 * token (set-password links), and without the token in the path of a configuration profile link.
 */
import type { DestinationStream, LoggerOptions } from 'pino';

/**
 * Longest URL path and user agent logged, in characters. With several workers (SESAME_WORKERS)
 * every process writes its lines to the same pipe, and a pipe keeps a write whole only up to 4 KiB
 * (PIPE_BUF): a request line stays well under it, so lines of two workers never interleave.
 */
export const LOGGED_FIELD_MAX = 512;

const clip = (s: string) => (s.length > LOGGED_FIELD_MAX ? `${s.slice(0, LOGGED_FIELD_MAX)}[…]` : s);

interface LoggedRequest {
  method: string;
  url: string;
  ip?: string;
  headers?: Record<string, unknown>;
}

export function logOptions(level: string): LoggerOptions {
  return {
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', '*.password', '*.token'],
      censor: '[redacted]',
    },
    serializers: {
      req(req: LoggedRequest) {
        const q = req.url.indexOf('?');
        const path = (q === -1 ? req.url : req.url.slice(0, q)).replace(
          /^\/apple-profile\/[^/?]+/,
          '/apple-profile/[token omitted]',
        );
        const userAgent = req.headers?.['user-agent'];
        return {
          method: req.method,
          url: q === -1 ? clip(path) : `${clip(path)}?[query omitted]`,
          ip: req.ip,
          userAgent: typeof userAgent === 'string' ? clip(userAgent) : userAgent,
        };
      },
    },
  };
}

export type LogStream = DestinationStream;
