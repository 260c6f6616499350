/**
 * What a User-Agent header says, for people: the browser or client and the system it runs on.
 * Browsers are recognised by bowser (a maintained parser; ua-parser-js 2 is AGPL, see
 * docs/decisions.md); mail, calendar and script clients that bowser does not know (or misnames:
 * Thunderbird's header reads as "Mozilla") are matched first. Only for display; the full header
 * stays in the store, the exports and the API.
 */
import Bowser from 'bowser';

export interface AgentSummary {
  /** "Chrome", "Edge", "Thunderbird", "curl"; absent when nothing is recognised. */
  client?: string;
  /** "Windows", "iOS"; absent when the header does not say. */
  system?: string;
}

const CLIENTS: [RegExp, string][] = [
  [/\bThunderbird\//, 'Thunderbird'],
  [/\bMicrosoft Outlook\b|\bMicrosoft Office\b/, 'Outlook'],
  [/\bdataaccessd\//, 'Apple Mail/Calendar'],
  [/^curl\//, 'curl'],
  [/^python-requests\//i, 'Python'],
  [/^Go-http-client\//, 'Go'],
  [/^(?:node-fetch|undici|node)\b/i, 'Node.js'],
];

// Apple's account daemons name the system first ("iOS/18.1 (22B83) dataaccessd/1.0").
const SYSTEM_FIRST = /^(iOS|iPadOS|macOS|watchOS)\//;

// Bowser's names where a shorter one is what people say.
const SHORT: Record<string, string> = {
  'Microsoft Edge': 'Edge',
  'Chrome OS': 'ChromeOS',
  'Samsung Internet for Android': 'Samsung Internet',
};

const cache = new Map<string, AgentSummary>();
const CACHE_MAX = 1000;

export function describeUserAgent(ua: string): AgentSummary {
  const hit = cache.get(ua);
  if (hit) return hit;
  const out = parse(ua);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(ua, out);
  return out;
}

function parse(ua: string): AgentSummary {
  const trimmed = ua.trim();
  if (!trimmed) return {};
  let r: Bowser.Parser.ParsedResult | undefined;
  try {
    r = Bowser.parse(trimmed.slice(0, 1000));
  } catch {
    r = undefined;
  }
  const system = r?.os.name ? (SHORT[r.os.name] ?? r.os.name) : SYSTEM_FIRST.exec(trimmed)?.[1];
  const own = CLIENTS.find(([re]) => re.test(trimmed))?.[1];
  const browser =
    r?.browser.name && r.browser.name !== 'Mozilla' ? (SHORT[r.browser.name] ?? r.browser.name) : undefined;
  // Something else (a mail client, a script): its first word, bounded, is the best guess.
  const client = own ?? browser ?? trimmed.split(/[\s/;(]/)[0]?.slice(0, 40);
  return { ...(client ? { client } : {}), ...(system ? { system } : {}) };
}

/** The language-neutral short form the JSON API gives ("Firefox · Windows", "curl", "?"). */
export function summarizeUserAgent(ua: string): string {
  const { client, system } = describeUserAgent(ua);
  if (client && system) return `${client} · ${system}`;
  return client ?? system ?? '?';
}
