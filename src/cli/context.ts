/** Commands that work on the store open the same context as the server, and always close it. */
import { type AppContext, createContext } from '../app/context.js';
import type { Config } from '../config/config.js';

export async function withContext<T>(config: Readonly<Config>, work: (ctx: AppContext) => Promise<T>): Promise<T> {
  const ctx = await createContext(config);
  try {
    return await work(ctx);
  } finally {
    await ctx.close();
  }
}
