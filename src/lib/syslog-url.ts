/** The syslog target option (SESAME_SYSLOG_URL), read by the configuration and by the sender. */

/** `udp://host:port` or `tcp://host:port` (port default 514). */
export function parseSyslogUrl(raw: string): { protocol: 'udp' | 'tcp'; host: string; port: number } | Error {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return new Error('must be udp://host:port or tcp://host:port');
  }
  const protocol = u.protocol.slice(0, -1);
  if (
    (protocol !== 'udp' && protocol !== 'tcp') ||
    !u.hostname ||
    u.pathname.replace(/^\/$/, '') ||
    u.search ||
    u.username
  )
    return new Error('must be udp://host:port or tcp://host:port');
  return { protocol, host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 514 };
}
