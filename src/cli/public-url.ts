/**
 * URLs the CLI prints: built from SESAME_PUBLIC_URL only. Without it the configuration falls back
 * to http://HOST:PORT of the CLI's own environment, which is rarely where users reach the server
 * (another port, a proxy, https): a link or an issuer built from it would be wrong without a word.
 * So when it is unset the CLI prints the path and says so plainly (issue #16, item 6).
 */
import type { Config } from '../config/config.js';
import type { CliIo } from './io.js';

/** SESAME_PUBLIC_URL as the CLI's environment sets it, without a trailing slash; '' when unset. */
export function publicUrlOf(io: CliIo): string {
  return (io.env.SESAME_PUBLIC_URL ?? '').trim().replace(/\/+$/, '');
}

/** The sentence printed instead of a guessed URL. */
export const PUBLIC_URL_UNSET =
  "SESAME_PUBLIC_URL is not set in this environment: set it to the URL users reach Sesame at (the server's value) to get full URLs here";

/**
 * Prints `label` and the URL of `path` under SESAME_PUBLIC_URL; when it is unset, the path after a
 * visible placeholder (`<SESAME_PUBLIC_URL>/set-password?...`) and, on standard error, the reason.
 */
export function printUrl(io: CliIo, config: Readonly<Config>, path: string, label = ''): void {
  if (publicUrlOf(io)) {
    // config.publicUrl is SESAME_PUBLIC_URL as the server reads it (same parsing).
    io.out(`${label}${config.publicUrl.replace(/\/+$/, '')}${path}`);
    return;
  }
  io.out(`${label}<SESAME_PUBLIC_URL>${path}`);
  io.err(`sesame: ${PUBLIC_URL_UNSET}`);
}
