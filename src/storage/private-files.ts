/**
 * The data folder is private: the SQLite store (and its -wal and -shm), secrets.json, the
 * development outbox, anything Sesame writes there is 0600 in 0700 folders, whatever existed
 * before (issue #16, item 6). New files are created so; a folder or file left more open (made by
 * hand, restored by another tool, or by an older Sesame: `sesame.db` was created 0644 when the
 * folder already existed) is narrowed at open, and the caller logs a warning naming what changed.
 */
import fs from 'node:fs';
import path from 'node:path';

/** How deep below the data folder files are checked: Sesame writes at most a level or two down. */
const MAX_DEPTH = 3;

/**
 * Creates `dataDir` (0700) when missing and narrows it and everything in it that group or others
 * may read, write or enter. Symbolic links are left alone (not followed). Returns what it changed,
 * as `path: 0644 -> 0600` lines.
 */
export function securePrivateData(dataDir: string): string[] {
  const fixed: string[] = [];
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const walk = (p: string, depth: number) => {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return; // gone meanwhile (a -shm removed at another process's close)
    }
    if (st.isSymbolicLink()) return;
    const want = st.isDirectory() ? 0o700 : 0o600;
    const mode = st.mode & 0o777;
    // Group or others may read, write or enter: the owner's alone from now on.
    if (mode & 0o077) {
      const octal = (m: number) => m.toString(8).padStart(4, '0');
      try {
        fs.chmodSync(p, want);
        fixed.push(`${p}: ${octal(mode)} -> ${octal(want)}`);
      } catch (e) {
        fixed.push(`${p}: ${octal(mode)} could not be changed (${(e as NodeJS.ErrnoException).code})`);
      }
    }
    if (st.isDirectory() && depth < MAX_DEPTH)
      for (const name of fs.readdirSync(p)) walk(path.join(p, name), depth + 1);
  };
  walk(dataDir, 0);
  return fixed;
}

/** Creates `file` empty with mode 0600 if it does not exist (an empty file is a valid empty SQLite database). */
export function createPrivateFile(file: string): void {
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}
