/**
 * The store as a whole: `sesame migrate`, `sesame backup <file> [--force] [--secrets-only]` and
 * `sesame restore <file> [--force]` (storage/backup.ts).
 */
import { BackupError, createBackup, describeBackup, describeRestore, restoreBackup } from '../../storage/backup.js';
import { openStore } from '../../storage/db.js';
import { migrateToLatest } from '../../storage/migrator.js';
import type { CommandGroup } from '../command.js';
import { parse, UsageError } from '../io.js';

export const migrate: CommandGroup = {
  async run({ verb, config, io }) {
    if (verb !== undefined) throw new UsageError(`unknown command "migrate ${verb}"`);
    const store = openStore({
      dataDir: config.dataDir,
      databaseUrl: config.databaseUrl,
      onFixed: (fixed) => io.err(`sesame: warning: made private (readable by other users before): ${fixed.join('; ')}`),
    });
    try {
      const applied = await migrateToLatest(store.db);
      io.out(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date');
    } finally {
      await store.close();
    }
    return 0;
  },
};

function backupOrRestore(group: 'backup' | 'restore'): CommandGroup {
  return {
    async run({ args, config, io }) {
      // The file may come after the flags, so everything after the command is parsed.
      const p = parse(
        args,
        group === 'backup'
          ? { force: { type: 'boolean' }, 'secrets-only': { type: 'boolean' } }
          : { force: { type: 'boolean' } },
        1,
      );
      const v = p.values as { force?: boolean; 'secrets-only'?: boolean };
      const target = {
        dataDir: config.dataDir,
        databaseUrl: config.databaseUrl,
        file: p.positionals[0]!,
        force: v.force,
        env: io.env,
      };
      try {
        const lines =
          group === 'backup'
            ? describeBackup(createBackup({ ...target, secretsOnly: v['secrets-only'] }))
            : describeRestore(await restoreBackup(target));
        for (const line of lines) io.out(line);
      } catch (e) {
        if (!(e instanceof BackupError)) throw e;
        io.err(`sesame: ${group}: ${e.message}`);
        return 1;
      }
      return 0;
    },
  };
}

export const backup = backupOrRestore('backup');
export const restore = backupOrRestore('restore');
