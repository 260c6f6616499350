/**
 * `npm start`: the only place that wires config -> store -> services -> app -> listen.
 * Prints a first-admin hint when the store has no users, and shuts down cleanly on SIGTERM/SIGINT.
 */
import { createContext } from './app-context.js';
import { ConfigError, loadConfig } from './config/config.js';
import { buildApp } from './delivery/http/app.js';

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const ctx = await createContext(config);
  const app = await buildApp(ctx);
  await app.listen({ host: config.host, port: config.port });
  app.log.info({ store: ctx.store.kind, where: ctx.store.where, url: config.publicUrl }, 'Sesame is ready');
  if ((await ctx.accounts.countUsers()) === 0) {
    const domain = 'example.org';
    process.stdout.write(
      `\nNo users yet. Create your organization and its first admin (prints a one-time set-password link):\n` +
        `  npx sesame org add ${domain} --name "Example"\n` +
        `  npx sesame user add admin@${domain} --name "Admin" --admin\n\n`,
    );
  }
  // Revoke app passwords unused for longer than their organization allows: now, then hourly.
  const sweep = async () => {
    const orgs = await ctx.accounts.listOrganizations();
    const n = await ctx.appPasswords.sweepUnused(orgs.map((o) => o.id));
    if (n) app.log.info({ revoked: n }, 'unused app passwords revoked');
  };
  const sweeper = setInterval(() => void sweep().catch((e) => app.log.warn({ err: String(e) }, 'app-password sweep failed')), 3_600_000);
  sweeper.unref();
  void sweep().catch((e) => app.log.warn({ err: String(e) }, 'app-password sweep failed'));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    clearInterval(sweeper);
    await app.close();
    await ctx.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e) => {
  console.error(`Sesame could not start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
