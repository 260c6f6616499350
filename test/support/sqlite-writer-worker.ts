/**
 * A writer in another thread with its own SQLite connection, as another process (the CLI, a second
 * server) would be: it inserts an audit row every few milliseconds until told to stop, and reports
 * how long its slowest write waited (for the write lock, under busy_timeout). Used by
 * test/production/retention-million.test.ts to show retention never holds the lock for long.
 */
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

const { file } = workerData as { file: string };
const db = new SQLite(file);
db.pragma('busy_timeout = 5000');
const insert = db.prepare(
  "insert into audit_events (id, at, org_id, actor_id, actor_label, action, target_user_id, detail) values (?, ?, 'org1', null, 'writer', 'test.write', null, '')",
);
let stop = false;
let max = 0;
let n = 0;
parentPort!.on('message', () => {
  stop = true;
});
const loop = () => {
  if (stop) {
    db.close();
    parentPort!.postMessage({ max, n });
    return;
  }
  const t = performance.now();
  insert.run(`w-${n}`, Date.now());
  max = Math.max(max, performance.now() - t);
  n += 1;
  setTimeout(loop, 3);
};
parentPort!.postMessage('ready');
loop();
