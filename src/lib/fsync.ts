/** Durability helper shared by the writers of secrets and backups. */
import fs from 'node:fs';

/**
 * Flushes a directory's entry table to disk: after a rename into `dir`, the new name survives a
 * crash only once the directory itself is synced (a file's own fsync does not cover its name).
 */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
