/** How times are written for people: on pages, in mails and by the CLI. */

/** `2026-12-06 19:07:56 UTC`: one form for every reader, whatever their time zone. */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}
