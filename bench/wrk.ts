/**
 * wrk, driven the same way by every benchmark here: its Lua script (round-robin requests, each
 * connection's first request held), its report parsed, and the checks that make a run invalid.
 * Also a small HTTP client and a free-port finder.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';

export const CONNECTIONS = 64;
export const THREADS = 2;
/** Seconds each wrk connection waits before its first request (see wrkScript). */
export const HOLD_S = 1;

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export interface WrkReport {
  requests: number;
  durationS: number;
  rps: number;
  latency: { avgMs: number; maxMs: number; p50Ms: number; p75Ms: number; p90Ms: number; p99Ms: number };
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

/** wrk prints durations as 812.00us, 1.23ms, 2.01s, 1.50m. */
export function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(v.trim());
  if (!m) throw new Error(`wrk: cannot read the duration ${JSON.stringify(v)}`);
  const n = Number(m[1]);
  return n * { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'us' | 'ms' | 's' | 'm' | 'h'];
}

export function parseWrk(out: string): WrkReport {
  const need = (re: RegExp, what: string) => {
    const m = re.exec(out);
    if (!m) throw new Error(`wrk: no ${what} in its output:\n${out}`);
    return m;
  };
  const lat = need(/^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)/m, 'latency line');
  const pct = (p: number) =>
    toMs(need(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm'), `${p}% latency (was --latency given?)`)[1]!);
  const total = need(/^\s*(\d+) requests in ([\d.]+\w+)/m, 'request count');
  const rps = need(/^Requests\/sec:\s+([\d.]+)/m, 'Requests/sec');
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: Number(total[1]),
    durationS: round(toMs(total[2]!) / 1000, 2),
    rps: round(Number(rps[1]), 1),
    latency: {
      avgMs: round(toMs(lat[1]!), 3),
      maxMs: round(toMs(lat[3]!), 3),
      p50Ms: round(pct(50), 3),
      p75Ms: round(pct(75), 3),
      p90Ms: round(pct(90), 3),
      p99Ms: round(pct(99), 3),
    },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock
      ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

/** A Lua string literal for any text: every byte but letters and digits as a three-digit decimal escape. */
export function lua(s: string): string {
  return `"${[...Buffer.from(s, 'utf8')].map((b) => (/[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `\\${String(b).padStart(3, '0')}`)).join('')}"`;
}

/**
 * A wrk script that sends the given requests round-robin. The requests are formatted in init()
 * (wrk sets the Host header only then); each thread starts at its own offset (setup() numbers
 * the threads), so the two threads do not walk the users in step.
 *
 * delay() holds each connection's first request for HOLD_S: wrk opens all its connections at
 * once and stamps each first request when it writes it, but libuv (1.45 and later, so Node 20)
 * accepts one connection per turn of the event loop, and a loaded turn lasts tens of ms: without
 * the hold, the last of 64 connections is accepted about a second after it sent its request, wrk
 * records those first requests as ~1 s latencies, and its coordinated-omission correction turns
 * a few dozen of them into the p99 (measured: p99 500-900 ms whatever the duration, while no
 * request took more than ~130 ms from the server's read to its answer). With the hold, the
 * server accepts every connection while idle and the phase measures steady-state requests on
 * open connections, as a mail server's pooled HTTP client makes them. Every later delay() is 0.
 */
/** `connectionsPerThread` must match the runWrk that uses the script: that many first requests per thread are held. */
export function wrkScript(
  method: string,
  urlPath: string,
  requests: { headers: Record<string, string>; body?: string }[],
  connectionsPerThread = CONNECTIONS / THREADS,
): string {
  const list = requests
    .map(
      (r) =>
        `  { headers = { ${Object.entries(r.headers)
          .map(([k, v]) => `[${lua(k)}] = ${lua(v)}`)
          .join(', ')} }${r.body === undefined ? '' : `, body = ${lua(r.body)}`} },`,
    )
    .join('\n');
  return `-- written by bench/legacy-auth.ts
local specs = {
${list}
}
local threads = 0
local held = 0
function delay()
  if held < ${connectionsPerThread} then
    held = held + 1
    return ${HOLD_S * 1000}
  end
  return 0
end
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local reqs = {}
local i = 0
function init(args)
  for k, s in ipairs(specs) do
    reqs[k] = wrk.format(${lua(method)}, ${lua(urlPath)}, s.headers, s.body)
  end
  i = ((tid or 0) * math.floor(#reqs / ${THREADS})) % #reqs
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
`;
}

/** Runs wrk for `seconds` after the hold; requests/s counts from the end of the hold. */
export function runWrk(
  url: string,
  seconds: number,
  script: string,
  load: { connections: number; threads: number } = { connections: CONNECTIONS, threads: THREADS },
): Promise<WrkReport> {
  const args = [
    `-t${load.threads}`,
    `-c${load.connections}`,
    `-d${seconds + HOLD_S}s`,
    '--latency',
    '--timeout',
    '10s',
    '-s',
    script,
    url,
  ];
  return new Promise((resolve, reject) => {
    execFile(
      'wrk',
      args,
      { timeout: (seconds + HOLD_S + 30) * 1000, maxBuffer: 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const hint =
            (err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (wrk is not installed: apt-get install wrk)' : '';
          reject(new Error(`wrk ${args.join(' ')} failed${hint}: ${err.message}\n${stdout}${stderr}`));
          return;
        }
        try {
          const r = parseWrk(stdout);
          const durationS = round(r.durationS - HOLD_S, 2);
          resolve({ ...r, durationS, rps: durationS > 0 ? round(r.requests / durationS, 1) : 0 });
        } catch (e) {
          reject(e);
        }
      },
    );
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export function failures(r: WrkReport): string | undefined {
  const s = r.socketErrors;
  const sockets = s.connect + s.read + s.write + s.timeout;
  if (r.non2xx === 0 && sockets === 0 && r.requests > 0) return undefined;
  return `${r.non2xx} non-2xx answer(s), socket errors connect ${s.connect} read ${s.read} write ${s.write} timeout ${s.timeout}, ${r.requests} request(s)`;
}

export function wrkVersion(): Promise<string> {
  return new Promise((resolve) =>
    execFile('wrk', ['--version'], (_e, stdout, stderr) =>
      resolve((`${stdout}${stderr}`.split('\n')[0] ?? '').replace(/\s*Copyright.*$/, '').trim()),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// A small HTTP client (probes and the sign-in loop)

export interface Reply {
  status: number;
  body: string;
}

export function request(
  agent: http.Agent,
  port: number,
  method: string,
  urlPath: string,
  headers: http.OutgoingHttpHeaders = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        agent,
        headers: { ...headers, ...(payload ? { 'content-length': payload.length } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
