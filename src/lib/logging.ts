/**
 * Log options shared by the server and tests. Logs are JSON lines (pino), so a user agent with
 * CR/LF cannot forge a line. Secrets never reach them: headers that carry credentials are
 * redacted, and request URLs are logged without their query string, which may hold a one-time
 * token (set-password links), and without the token in the path of a configuration profile link.
 */
import type { DestinationStream, LoggerOptions } from 'pino';

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
        return {
          method: req.method,
          url: q === -1 ? path : `${path}?[query omitted]`,
          ip: req.ip,
          userAgent: req.headers?.['user-agent'],
        };
      },
    },
  };
}

export type LogStream = DestinationStream;
