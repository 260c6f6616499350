/**
 * A PostgreSQL cluster of a test's own, for tests that stop and start the database under Sesame
 * (the shared cluster of scripts/test.sh must never be stopped: other test files use it). Same
 * recipe as scripts/test.sh: initdb with trust on loopback, no fsync, run as the `postgres` account
 * when the test runs as root (PostgreSQL refuses root), a free port on 127.0.0.1, the socket in the
 * cluster's own folder. pg_ctl runs asynchronously, so the test's event loop (its load generator)
 * keeps going while the database stops or starts.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './processes.js';

const run = promisify(execFile);

/** The newest PostgreSQL bin folder: SESAME_TEST_PG_BIN (scripts/test.sh) or Debian's /usr/lib/postgresql/N/bin. */
export function pgBinDir(): string {
  const fromEnv = process.env.SESAME_TEST_PG_BIN;
  if (fromEnv && fs.existsSync(path.join(fromEnv, 'pg_ctl'))) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root)
    ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin/pg_ctl')))
    : [];
  versions.sort((a, b) => Number(a) - Number(b));
  if (versions.length === 0)
    throw new Error(
      'PostgreSQL server binaries not found: install them with `sudo apt-get install postgresql` (scripts/test.sh does)',
    );
  return path.join(root, versions.at(-1)!, 'bin');
}

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  url: string;
  port: number;
  /** pg_ctl stop; `fast` ends sessions and checkpoints, `immediate` is a crash. Resolves once it is down. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** pg_ctl start on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** The server's log so far (for failure messages). */
  log(): string;
  /** Stops it (immediate) and removes its folder; safe to call twice. */
  destroy(): Promise<void>;
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = pgBinDir();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-own-pg-'));
  fs.chmodSync(root, 0o755);
  const data = path.join(root, 'data');
  const logFile = path.join(root, 'pg.log');
  fs.mkdirSync(data);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['postgres:', root, data]);
  // PostgreSQL refuses to run as root: Debian's package creates the postgres account for it.
  const cmd = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args]] : [path.join(bin, tool), args];
  const port = await freePort();
  const pgCtl = (args: string[]) => {
    const [file, argv] = cmd('pg_ctl', ['-D', data, ...args]);
    return run(file, argv, { timeout: 30_000 });
  };
  const startArgs = [
    '-w',
    '-l',
    logFile,
    '-o',
    `-c listen_addresses=127.0.0.1 -p ${port} -k ${root} -c fsync=off -c max_connections=100`,
    'start',
  ];
  let destroyed = false;
  // Should the test process die first, the cluster must not outlive it.
  const killOnExit = () => {
    try {
      const [file, argv] = cmd('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      execFileSync(file, argv, { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // already down
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);
  const cluster: PgCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: async (mode = 'fast') => void (await pgCtl(['-w', '-m', mode, 'stop'])),
    start: async () => void (await pgCtl(startArgs)),
    log: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      process.removeListener('exit', killOnExit);
      await pgCtl(['-m', 'immediate', 'stop']).catch(() => undefined);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    const [file, argv] = cmd('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    await run(file, argv, { timeout: 60_000 });
    await cluster.start();
  } catch (e) {
    const log = cluster.log();
    await cluster.destroy();
    throw new Error(
      `could not start a PostgreSQL cluster of the test's own: ${e instanceof Error ? e.message : String(e)}\n${log}`,
    );
  }
  return cluster;
}
