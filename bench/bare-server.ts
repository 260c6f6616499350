/**
 * The bare route the HTTP targets of issue #21 are measured against: Fastify 5, logger off, no
 * plugins, one route `GET /bare` answering 200 with a short body. Started by bench/legacy-targets.ts
 * as its own process: `node dist/bench/bare-server.js <port> [processes]`. With processes > 1 it is
 * that many node:cluster workers sharing the port (the primary hands out connections, as
 * SESAME_WORKERS does for Sesame), for a like-for-like baseline beside Sesame's two workers.
 * Prints `listening <port>` once every process listens.
 */
import cluster from 'node:cluster';
import Fastify from 'fastify';

const port = Number(process.argv[2]);
const processes = Number(process.argv[3] ?? '1');
if (!Number.isInteger(port) || port <= 0 || !Number.isInteger(processes) || processes < 1) {
  console.error('usage: bare-server.js <port> [processes]');
  process.exit(2);
}

async function serve(): Promise<void> {
  const app = Fastify({ logger: false });
  app.get('/bare', async () => 'ok');
  await app.listen({ host: '127.0.0.1', port });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
  if (cluster.isWorker) process.send?.('listening');
  else console.log(`listening ${port}`);
}

if (processes > 1 && cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < processes; i++)
    cluster.fork().on('message', (m) => {
      if (m === 'listening' && ++listening === processes) console.log(`listening ${port}`);
    });
  cluster.on('exit', (_w, code) => {
    // A worker that dies makes the baseline a different server: stop, the bench sees it.
    if (code !== 0) process.exit(1);
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  await serve();
}
