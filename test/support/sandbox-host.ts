/**
 * A throwaway "fresh Debian host" for the integration tests: a Linux mount and network namespace in
 * which /etc, /var and /run are copy-on-write overlays of this machine's (so the servers start from
 * Debian's stock configuration as its packages installed it, and whatever the docs' steps change,
 * even `adduser vmail` or a file in /etc/dovecot, stays inside), with a network of its own whose only
 * interface is its loopback. Servers listen on their standard ports there (143, 587, 8080...) without
 * touching this machine's ports, and nothing outside can reach them.
 *
 * Commands run inside with `sh()` (bash -euo pipefail, as a doc's block is run) or `exec()`. systemd
 * does not run in this container, so `systemctl start|restart|reload|stop <unit>` inside is a small
 * shim (written here, first on PATH) that does what the Debian package's unit does: it starts the
 * same daemon binary with the package's configuration (`dovecot`, `nginx`, `postfix start`, `nslcd`,
 * Caddy and Radicale as their own users), or sends the reload the unit would.
 *
 * Needs root (namespaces, mounts) and util-linux's unshare and nsenter. `stop()` kills every process
 * in the namespace and removes the overlays' folder; it also runs on process exit.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** What `systemctl` does inside the sandbox, per unit: the command its Debian unit runs. */
const SYSTEMCTL_SHIM = `#!/bin/bash
# systemctl for the test sandbox (no systemd here): does what each Debian unit does.
set -eu
verb="\${1:-}"; unit="\${2:-}"; unit="\${unit%.service}"
case "$verb" in enable|disable|daemon-reload|is-enabled) exit 0;; esac
stop_unit() {
  case "$unit" in
    dovecot) doveadm stop 2>/dev/null || true ;;
    nginx) nginx -s quit 2>/dev/null || true ;;
    postfix) postfix stop 2>/dev/null || true ;;
    nslcd) [ -e /run/nslcd/nslcd.pid ] && kill "$(cat /run/nslcd/nslcd.pid)" 2>/dev/null || true ;;
    # Only this sandbox's processes (its network namespace), never another sandbox's or the machine's.
    caddy) pkill --ns $$ --nslist net -x caddy 2>/dev/null || true ;;
    radicale) pkill --ns $$ --nslist net -f '^/usr/bin/python3 /usr/bin/radicale' 2>/dev/null || true; pkill --ns $$ --nslist net -f 'python3 -m radicale' 2>/dev/null || true ;;
  esac
  sleep 0.3
}
start_unit() {
  case "$unit" in
    dovecot) dovecot ;;
    nginx) nginx ;;
    postfix) postfix start ;;
    # The unit's ExecStart: nslcd forks, drops to the uid and gid of /etc/nslcd.conf, writes its pid file.
    nslcd) mkdir -p /run/nslcd && chown nslcd:nslcd /run/nslcd && nslcd ;;
    # User=caddy with AmbientCapabilities=CAP_NET_BIND_SERVICE (ports 80 and 443) and its HOME, as the unit.
    caddy) HOME=/var/lib/caddy setsid setpriv --reuid=caddy --regid=caddy --init-groups --inh-caps=+net_bind_service --ambient-caps=+net_bind_service /usr/bin/caddy run --environ --config /etc/caddy/Caddyfile >>/var/log/caddy.out 2>&1 < /dev/null & ;;
    radicale) setsid runuser -u radicale -- /usr/bin/python3 -m radicale >>/var/log/radicale.out 2>&1 < /dev/null & ;;
    *) echo "systemctl shim: unknown unit $unit" >&2; exit 1 ;;
  esac
}
case "$verb" in
  start) start_unit ;;
  stop) stop_unit ;;
  restart) stop_unit; start_unit ;;
  reload)
    case "$unit" in
      dovecot) doveadm reload ;;
      nginx) nginx -s reload ;;
      postfix) postfix reload ;;
      caddy) runuser -u caddy -- /usr/bin/caddy reload --config /etc/caddy/Caddyfile ;;
      *) stop_unit; start_unit ;;
    esac ;;
  *) echo "systemctl shim: unsupported: $*" >&2; exit 1 ;;
esac
`;

export class SandboxHost {
  private readonly onExit = () => this.killAllNow();
  private stopped = false;
  readonly bin: string;

  private constructor(
    /** Outside folder holding the overlays' upper layers (a tmpfs) and the shim. */
    readonly dir: string,
    private readonly holder: ChildProcess,
    /** A process inside the namespaces, to nsenter by. */
    readonly pid: number,
  ) {
    this.bin = path.join(dir, 'bin');
    process.once('exit', this.onExit);
  }

  static async create(): Promise<SandboxHost> {
    if (process.getuid?.() !== 0)
      throw new Error('the sandbox host needs root (namespaces and mounts): run the tests as root');
    for (const tool of ['/usr/bin/unshare', '/usr/bin/nsenter'])
      if (!fs.existsSync(tool)) throw new Error(`${tool} not found (util-linux)`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-host-'));
    const bin = path.join(dir, 'bin');
    const layers = path.join(dir, 'layers');
    fs.mkdirSync(bin);
    fs.mkdirSync(layers);
    fs.writeFileSync(path.join(bin, 'systemctl'), SYSTEMCTL_SHIM, { mode: 0o755 });
    const overlays = ['etc', 'var', 'run']
      .map(
        (d) =>
          `mkdir -p ${layers}/u/${d} ${layers}/w/${d} && mount -t overlay overlay -o lowerdir=/${d},upperdir=${layers}/u/${d},workdir=${layers}/w/${d} /${d}`,
      )
      .join(' && ');
    const holder = spawn(
      '/usr/bin/unshare',
      [
        '--mount',
        '--net',
        '--propagation',
        'private',
        '--fork',
        '--',
        'bash',
        '-c',
        `set -e; mount -t tmpfs -o mode=0755 sesame-host ${layers}; ${overlays}; ip link set lo up; echo "ready $$"; exec sleep infinity`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(() => reject(new Error(`sandbox host did not start: ${out} ${err}`)), 10_000);
      holder.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /ready (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      holder.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
      });
      holder.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sandbox host exited (${code}): ${err}`));
      });
    });
    return new SandboxHost(dir, holder, pid);
  }

  /** `cwd`: nsenter's working directory inside (entering the mount namespace otherwise leaves the command in /). */
  private nsenterArgs(cwd?: string): string[] {
    return ['-t', String(this.pid), '-m', '-n', ...(cwd ? [`--wdns=${cwd}`] : []), '--'];
  }

  /** Environment inside: the shim first on PATH, C locale, no proxy settings of this machine. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: `${this.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: '/root',
      LANG: 'C.UTF-8',
      ...extra,
    };
  }

  /** Runs a bash script inside (`set -euo pipefail`, as a doc's block); never rejects: read `code`. */
  async sh(
    script: string,
    opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; input?: string } = {},
  ): Promise<ShResult> {
    // --norc: node's pipes are sockets, and bash reads bashrc when its input is a socket (as under rshd).
    return this.exec('bash', ['--norc', '-euo', 'pipefail', '-c', script], opts);
  }

  /** Runs one command inside; never rejects: read `code`. */
  exec(
    file: string,
    args: string[],
    opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; input?: string } = {},
  ): Promise<ShResult> {
    return new Promise((resolve) => {
      const child = spawn('/usr/bin/nsenter', [...this.nsenterArgs(opts.cwd), file, ...args], {
        env: this.env(opts.env),
        cwd: opts.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
      let done = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      };
      child.once('close', finish);
      // A daemon the command started inherits its output pipes and keeps them open: after the exit,
      // give the pipes a moment to drain, then answer without waiting for them to close.
      child.once('exit', (code, signal) => {
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          finish(code, signal);
        }, 200);
      });
      // A command that exits without reading its input closes the pipe: EPIPE is no error of the test's.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input ?? '');
    });
  }

  /** Starts a long-running process inside (e.g. Sesame itself); its output goes to `logFile` (outside path). */
  spawn(
    file: string,
    args: string[],
    opts: { env?: Record<string, string>; cwd?: string; logFile: string },
  ): ChildProcess {
    const fd = fs.openSync(opts.logFile, 'a');
    try {
      return spawn('/usr/bin/nsenter', [...this.nsenterArgs(opts.cwd), file, ...args], {
        env: this.env(opts.env),
        cwd: opts.cwd,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  /** A file inside the sandbox, read from outside (through the namespace's root). */
  read(file: string): string {
    try {
      return fs.readFileSync(`/proc/${this.pid}/root${file}`, 'utf8');
    } catch {
      return '';
    }
  }

  /** Writes a file inside the sandbox from outside (an admin's certificate, say). */
  write(file: string, text: string | Buffer, mode = 0o644): void {
    const at = `/proc/${this.pid}/root${file}`;
    fs.mkdirSync(path.dirname(at), { recursive: true });
    // An absolute symbolic link there (Debian's /etc/dovecot/private/dovecot.pem points at
    // /etc/ssl/certs/ssl-cert-snakeoil.pem) would be followed from this process's root, the real
    // machine's, not the sandbox's: the write would land on this machine's file. Seen: the snakeoil
    // key overwritten with mode 0600, and FreeRADIUS's test then failing to read it. The link goes
    // first (inside the sandbox's overlay), so the file is written there.
    if (fs.lstatSync(at, { throwIfNoEntry: false })?.isSymbolicLink()) fs.unlinkSync(at);
    fs.writeFileSync(at, text, { mode });
    fs.chmodSync(at, mode);
  }

  /**
   * Waits until something listens on 127.0.0.1:port inside.
   * The tests give their daemons 60 s: it costs nothing when one starts at once, and with three test
   * files side by side on two cores a Python or Perl daemon has taken over 10 s to listen.
   */
  async waitForPort(port: number, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await this.exec('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { timeoutMs: 5_000 });
      if (r.code === 0) return;
      if (Date.now() > deadline)
        throw new Error(`${what} did not listen on 127.0.0.1:${port} inside the sandbox within ${ms} ms`);
      await new Promise((r2) => setTimeout(r2, 100));
    }
  }

  /** Every process in this sandbox's network namespace (the holder included). */
  private pidsInside(): number[] {
    let ns: string;
    try {
      ns = fs.readlinkSync(`/proc/${this.pid}/ns/net`);
    } catch {
      return [];
    }
    const out: number[] = [];
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (fs.readlinkSync(`/proc/${name}/ns/net`) === ns) out.push(Number(name));
      } catch {
        // gone, or not ours to read
      }
    }
    return out;
  }

  private killAllNow(signal: NodeJS.Signals = 'SIGKILL') {
    for (const pid of this.pidsInside()) {
      try {
        process.kill(pid, signal);
      } catch {
        // gone meanwhile
      }
    }
    try {
      this.holder.kill('SIGKILL');
    } catch {
      // gone
    }
  }

  /** Stops everything inside (TERM, then KILL after 3 s), then removes the folder. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    process.removeListener('exit', this.onExit);
    this.killAllNow('SIGTERM');
    const deadline = Date.now() + 3_000;
    while (this.pidsInside().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.killAllNow('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    await run('rm', ['-rf', this.dir]).catch(() => undefined);
  }
}

/**
 * The shell blocks of a doc that a test runs: each ```sh block right after a line
 * `<!-- test: NAME -->`, in order. The blocks are what the reader types; the test runs them as they are.
 */
export function docSteps(markdown: string, name: string): string[] {
  const out: string[] = [];
  const re = /<!--\s*test:\s*([a-z0-9-]+)\s*-->\s*\n```(?:sh|bash|console)?\n([\s\S]*?)\n```/g;
  for (const m of markdown.matchAll(re)) if (m[1] === name) out.push(m[2]!);
  return out;
}
