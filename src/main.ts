/**
 * `npm start`: loads the configuration and serves. SESAME_WORKERS=1: this process serves alone
 * (app/serve.ts: context, app, listen, a clean stop on SIGTERM/SIGINT). More: this process is the
 * primary of that many workers, which serve (app/cluster.ts); each worker runs this file too.
 */
import { ConfigError, loadConfig } from './config/config.js';
import { isClusterWorker, runPrimary, runWorker } from './app/cluster.js';

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
  if (isClusterWorker()) await runWorker(config);
  else if (config.workers > 1) await runPrimary(config);
  else {
    // Imported only where it runs: a primary never serves (app/cluster.ts loads it in its workers).
    const { serve } = await import('./app/serve.js');
    await serve(config, { migrate: true, jobs: true, hint: true });
  }
}

main().catch((e) => {
  // Unsafe keys in production mode are found where the keys are read (createContext, or the
  // primary before it starts workers): a configuration problem too.
  if (e instanceof ConfigError) {
    console.error(e.message);
    process.exit(2);
  }
  console.error(`Sesame could not start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
