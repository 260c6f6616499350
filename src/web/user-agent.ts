/**
 * A short, language-neutral description of a User-Agent header for "My sessions": the browser or
 * client and the system it runs on ("Firefox · Windows", "curl"). Only for display; the full header
 * stays in the store and the API.
 */
const CLIENTS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\//, 'Opera'],
  [/\bFirefox\//, 'Firefox'],
  [/\b(?:HeadlessChrome|Chromium|Chrome|CriOS)\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  [/^curl\//, 'curl'],
  [/^python-requests\//i, 'Python'],
  [/^Go-http-client\//, 'Go'],
  [/^(?:node-fetch|undici|node)\b/i, 'Node.js'],
];
const SYSTEMS: [RegExp, string][] = [
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bAndroid\b/, 'Android'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bLinux\b/, 'Linux'],
];

export function summarizeUserAgent(ua: string): string {
  const client = CLIENTS.find(([re]) => re.test(ua))?.[1];
  const system = SYSTEMS.find(([re]) => re.test(ua))?.[1];
  if (client && system) return `${client} · ${system}`;
  if (client || system) return (client ?? system)!;
  // Something else (a mail client, a script): its first word, bounded, is the best guess.
  return (
    ua
      .trim()
      .split(/[\s/;(]/)[0]
      ?.slice(0, 40) || '?'
  );
}
