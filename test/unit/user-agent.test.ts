/** The user-agent summary "My sessions" shows: real browsers' and tools' headers, and anything else. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeUserAgent } from '../../src/web/user-agent.js';

describe('summarizeUserAgent', () => {
  it('names the browser and the system of real headers', () => {
    const cases: [string, string][] = [
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0', 'Firefox · Windows'],
      [
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
        'Safari · macOS',
      ],
      [
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
        'Edge · Windows',
      ],
      [
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0',
        'Thunderbird · Windows',
      ],
      ['Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.5443; Pro)', 'Outlook · Windows'],
      ['iOS/18.1 (22B83) dataaccessd/1.0', 'Apple Mail/Calendar · iOS'],
      [
        'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
        'Chrome · ChromeOS',
      ],
      [
        'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
        'Chrome · Android',
      ],
      [
        'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
        'Safari · iOS',
      ],
      [
        'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36',
        'Chrome · Linux',
      ],
      ['curl/8.5.0', 'curl'],
      ['python-requests/2.31.0', 'Python'],
    ];
    for (const [ua, expected] of cases) assert.equal(summarizeUserAgent(ua), expected, ua);
  });

  it('falls back to the first word, bounded, and never to nothing', () => {
    assert.equal(summarizeUserAgent('Thunderbird/128.0'), 'Thunderbird');
    assert.equal(summarizeUserAgent('x'.repeat(100)), 'x'.repeat(40));
    assert.equal(summarizeUserAgent(''), '?');
  });
});
