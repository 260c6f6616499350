/**
 * An open-loop HTTP load generator: requests at a fixed offered rate, whatever the server does.
 * Run by bench/legacy-targets.ts as its own process (so its CPU is not the bench's):
 * `node dist/bench/open-loop.js <spec.json>`, which prints one JSON line (OpenLoopReport) and exits.
 *
 * Why not wrk: wrk is closed loop (each connection sends its next request when the previous is
 * answered), so it measures a saturated server, and a slow answer holds back the requests that
 * would have come meanwhile (coordinated omission). Here request k is *scheduled* at
 * t0 + k / rate, at a constant interval, and its latency counts from that scheduled time: a
 * server that stalls for 10 ms is charged the 10 ms for every request that should have gone out
 * meanwhile, as a mail server's clients would feel it.
 *
 * How: `connections` kept-alive TCP connections opened before the clock starts (HTTP/1.1, one
 * request at a time on each, no pipelining, as a pooled client). Each due request goes out on the
 * next free connection, taking them in turn so the load is spread; when all are busy it waits in
 * one queue (its latency still counting from its schedule). The schedule is followed with timers
 * (Node's 1 ms granularity): at 3,000 req/s a timer turn sends the ~3 requests that fell due in it,
 * each on its own connection: small groups 1 ms apart, not wrk's bursts of every connection at
 * once. How late each request was put in line against its schedule is reported (`sendLagP99Ms`):
 * it is the generator's own share of the latency, the same for any server; how long it then
 * waited for a free connection (`queueWaitP99Ms`) is the server's (its earlier answers were late).
 *
 * Responses are read with the few rules these servers need: a status line, headers, and a body of
 * `content-length` bytes (or chunked, ended by its empty chunk). Requests are raw HTTP text given in
 * the spec, used in turn (each a different user's Authorization, say).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export interface OpenLoopSpec {
  port: number;
  /** Requests per second offered. */
  rate: number;
  /** Seconds measured, after the warm-up. */
  seconds: number;
  /** Seconds at the same rate before, not measured (JIT, connections, the server's memory). */
  warmupSeconds: number;
  connections: number;
  /** Raw HTTP/1.1 requests (with `Connection: keep-alive`), used in turn. */
  requests: string[];
}

export interface OpenLoopReport {
  rate: number;
  seconds: number;
  connections: number;
  /** Requests scheduled in the measured window. */
  scheduled: number;
  /** Of those, answered (any status). */
  answered: number;
  /** Of those, still unanswered 15 s after the last was due (the server could not keep up); counted in the latency at their age then. */
  unanswered: number;
  non2xx: number;
  errors: number;
  firstProblem?: string;
  /** Answered in the measured window / its length, where the window ends at its last request's answer (below the rate: the server could not keep up). */
  achievedRps: number;
  /** From the scheduled send time to the whole answer read. */
  latency: { p50Ms: number; p90Ms: number; p99Ms: number; p999Ms: number; maxMs: number };
  /** From the actual write to the answer (what the server and the network took). */
  serviceP99Ms: number;
  /** How late the generator's timer put requests in line against their schedule: its own lateness (timers, its event loop). */
  sendLagP99Ms: number;
  sendLagMaxMs: number;
  /** From in line to written: waiting for a free connection (all `connections` busy with earlier requests). */
  queueWaitP99Ms: number;
  /** The most requests waiting for a free connection at once. */
  maxQueued: number;
  /** Connections the server closed between requests (each reopened): ms after the clock started, the connection's age, its answers. */
  closedByServer: { atMs: number; ageMs: number; answers: number }[];
  /** The generator process's CPU seconds (user + system) over the whole run. */
  cpuSeconds: number;
}

const r3 = (n: number) => Math.round(n * 1000) / 1000;

function pick(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

interface Conn {
  socket: net.Socket;
  busy: boolean;
  buf: Buffer;
  /** The request on the wire: its schedule, when written, and whether it is measured. */
  sched: number;
  sent: number;
  measured: boolean;
}

export async function openLoop(spec: OpenLoopSpec): Promise<OpenLoopReport> {
  const cpu0 = process.cpuUsage();
  const raw = spec.requests.map((r) => Buffer.from(r, 'latin1'));
  if (raw.length === 0) throw new Error('open-loop: no requests');
  const warmupMs = spec.warmupSeconds * 1000;
  const total = Math.round((spec.seconds + spec.warmupSeconds) * spec.rate);
  const interval = 1000 / spec.rate;

  const lat: number[] = [];
  const service: number[] = [];
  const lag: number[] = [];
  const waits: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let firstProblem: string | undefined;
  let measuredScheduled = 0;
  let windowStart = 0;
  let lastAnswer = 0;
  let outstanding = 0;
  let maxQueued = 0;
  let nextRequest = 0;
  let rr = 0;
  const queue: { sched: number; queued: number; measured: boolean }[] = [];
  let qHead = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  let allScheduled = false;
  const problem = (m: string) => {
    errors++;
    firstProblem ??= m;
  };

  /** Connections the server closed between requests (a pooled client opens another): when, and after how many answers. */
  const closed: { atMs: number; ageMs: number; answers: number }[] = [];
  let stopping = false;
  const open = (c: Conn) =>
    new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: spec.port });
      socket.setNoDelay(true);
      const opened = performance.now();
      let answers = 0;
      c.socket = socket;
      c.busy = false;
      c.buf = Buffer.alloc(0);
      socket.once('connect', () => {
        resolve();
        dispatch();
      });
      socket.once('error', reject);
      socket.on('data', (d: Buffer) => {
        c.buf = c.buf.length === 0 ? d : Buffer.concat([c.buf, d]);
        if (c.busy && parse(c)) answers++;
      });
      socket.on('error', (e) => problem(`socket: ${e.message}`));
      socket.on('close', () => {
        if (stopping || c.socket !== socket) return;
        const now = performance.now();
        closed.push({ atMs: Math.round(now - t0), ageMs: Math.round(now - opened), answers });
        if (c.busy) {
          problem('the server closed a connection with a request on it');
          complete(c, 0, now);
        }
        open(c).catch((e: unknown) => problem(`reconnect: ${e instanceof Error ? e.message : String(e)}`));
      });
    });
  const conns: Conn[] = Array.from({ length: spec.connections }, () => ({
    socket: new net.Socket(),
    busy: false,
    buf: Buffer.alloc(0),
    sched: 0,
    sent: 0,
    measured: false,
  }));
  let t0 = 0;

  const complete = (c: Conn, status: number, now: number) => {
    c.busy = false;
    outstanding--;
    if (c.measured) {
      lat.push(now - c.sched);
      service.push(now - c.sent);
      lastAnswer = now;
      if (status < 200 || status > 299) {
        non2xx++;
        firstProblem ??= `HTTP ${status}: ${c.buf.subarray(0, 200).toString('latin1')}`;
      }
    }
    dispatch();
    if (allScheduled && outstanding === 0 && qHead === queue.length) done();
  };

  /** Reads the answer if the connection's buffer holds all of it (one request is on the wire at a time); true when it did. */
  function parse(c: Conn): boolean {
    const head = c.buf.indexOf('\r\n\r\n');
    if (head < 0) return false;
    const headers = c.buf.subarray(0, head).toString('latin1');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(headers)?.[1] ?? 0);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(headers);
    let end: number;
    if (length) {
      end = head + 4 + Number(length[1]);
      if (c.buf.length < end) return false;
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(headers)) {
      const last = c.buf.indexOf('\r\n0\r\n\r\n', head);
      if (last < 0) return false;
      end = last + 7;
    } else {
      end = head + 4; // no body (a 204, or a 401 without one)
    }
    const now = performance.now();
    c.buf = c.buf.subarray(end);
    complete(c, status, now);
    return true;
  }

  function dispatch() {
    while (qHead < queue.length) {
      let c: Conn | undefined;
      for (let i = 0; i < conns.length; i++) {
        const k = (rr + i) % conns.length;
        const candidate = conns[k]!;
        if (!candidate.busy && !candidate.socket.destroyed) {
          c = candidate;
          rr = k + 1;
          break;
        }
      }
      if (!c) return;
      const q = queue[qHead++]!;
      c.busy = true;
      c.sched = q.sched;
      c.measured = q.measured;
      c.sent = performance.now();
      if (q.measured) waits.push(c.sent - q.queued);
      outstanding++;
      c.socket.write(raw[nextRequest++ % raw.length]!);
    }
  }

  // The clock starts once every connection is open.
  await Promise.all(conns.map((c) => open(c)));
  t0 = performance.now() + 5;
  windowStart = t0 + warmupMs;
  let k = 0;
  const tick = () => {
    const now = performance.now();
    while (k < total && t0 + k * interval <= now) {
      const sched = t0 + k * interval;
      const measured = sched >= windowStart;
      if (measured) {
        measuredScheduled++;
        lag.push(now - sched);
      }
      queue.push({ sched, queued: now, measured });
      k++;
    }
    maxQueued = Math.max(maxQueued, queue.length - qHead);
    dispatch();
    if (k < total) setTimeout(tick, Math.max(0, t0 + k * interval - performance.now()));
    else {
      allScheduled = true;
      if (outstanding === 0 && qHead === queue.length) done();
    }
  };
  setTimeout(tick, 5);
  // However the server behaves, the run ends 15 s after the last request was due. A request still
  // unanswered then (an overloaded server's backlog) is no error, but it is not left out either:
  // its latency is counted as its age at that moment (a lower bound), so p99 shows the overload.
  const deadline = setTimeout(done, (spec.seconds + spec.warmupSeconds) * 1000 + 15_000);
  await finished;
  clearTimeout(deadline);
  let unanswered = 0;
  if (outstanding > 0 || qHead < queue.length) {
    const now = performance.now();
    for (const c of conns)
      if (c.busy && c.measured) {
        lat.push(now - c.sched);
        unanswered++;
      }
    for (let i = qHead; i < queue.length; i++)
      if (queue[i]!.measured) {
        lat.push(now - queue[i]!.sched);
        unanswered++;
      }
  }
  stopping = true;
  for (const c of conns) c.socket.destroy();

  const sorted = Float64Array.from(lat).sort();
  const cpu = process.cpuUsage(cpu0);
  return {
    rate: spec.rate,
    seconds: spec.seconds,
    connections: spec.connections,
    scheduled: measuredScheduled,
    answered: lat.length - unanswered,
    unanswered,
    non2xx,
    errors,
    ...(firstProblem === undefined ? {} : { firstProblem }),
    achievedRps:
      lastAnswer > windowStart
        ? Math.round(((lat.length - unanswered) / (lastAnswer - windowStart)) * 1000 * 10) / 10
        : 0,
    latency: {
      p50Ms: r3(pick(sorted, 0.5)),
      p90Ms: r3(pick(sorted, 0.9)),
      p99Ms: r3(pick(sorted, 0.99)),
      p999Ms: r3(pick(sorted, 0.999)),
      maxMs: r3(pick(sorted, 1)),
    },
    serviceP99Ms: r3(pick(Float64Array.from(service).sort(), 0.99)),
    sendLagP99Ms: r3(pick(Float64Array.from(lag).sort(), 0.99)),
    sendLagMaxMs: r3(pick(Float64Array.from(lag).sort(), 1)),
    queueWaitP99Ms: r3(pick(Float64Array.from(waits).sort(), 0.99)),
    maxQueued,
    closedByServer: closed,
    cpuSeconds: r3((cpu.user + cpu.system) / 1e6),
  };
}

// Run as a process: the spec's file in, one JSON line out.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const spec = JSON.parse(fs.readFileSync(process.argv[2] ?? '', 'utf8')) as OpenLoopSpec;
  openLoop(spec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(`open-loop: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
