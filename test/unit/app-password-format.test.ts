/**
 * The app-password format over 100,000 generated passwords: no duplicates, every one well-formed,
 * every single mistyped letter and every swap of different neighbours caught by the check letter.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ALPHABET,
  checksum,
  generateAppPassword,
  groupAppPassword,
  LENGTH,
  looksLikeAppPassword,
  normalizeAppPassword,
  valuesOf,
} from '../../src/domain/app-passwords/format.js';

describe('app-password format', () => {
  it('uses lowercase letters without look-alikes, at least 72 bits of randomness, shown in groups of four', () => {
    assert.equal(ALPHABET, 'abcdefghjkmnpqrstuvwxyz');
    assert.ok((LENGTH - 1) * Math.log2(ALPHABET.length) >= 72);
    const p = generateAppPassword();
    assert.match(p, /^[a-hjkmnp-z]{20}$/);
    assert.match(groupAppPassword(p), /^([a-hjkmnp-z]{4} ){4}[a-hjkmnp-z]{4}$/);
  });

  it('accepts a password with or without separators and in any case', () => {
    const p = generateAppPassword();
    for (const typed of [
      p,
      groupAppPassword(p),
      groupAppPassword(p).toUpperCase(),
      p.replace(/(.{4})/g, '$1-'),
      ` ${groupAppPassword(p)}\t`,
    ]) {
      assert.equal(normalizeAppPassword(typed), p, typed);
    }
    for (const bad of ['', 'password', p.slice(1), `${p}a`, p.replace(/.$/, 'i'), 'x'.repeat(100)])
      assert.equal(normalizeAppPassword(bad), undefined, bad);
  });

  it('over 100,000 passwords: no duplicates, and every single typo and neighbour swap is caught', () => {
    const seen = new Set<string>();
    let typos = 0;
    let swaps = 0;
    const v = new Uint8Array(LENGTH);
    for (let n = 0; n < 100_000; n++) {
      const p = generateAppPassword();
      assert.ok(!seen.has(p), 'duplicate');
      seen.add(p);
      const orig = valuesOf(p);
      assert.equal(checksum(orig), 0);
      v.set(orig);
      for (let i = 0; i < LENGTH; i++) {
        for (let x = 0; x < ALPHABET.length; x++) {
          if (x === orig[i]) continue;
          v[i] = x;
          if (checksum(v) === 0) assert.fail(`typo at ${i} not caught in ${p}`);
          typos++;
        }
        v[i] = orig[i]!;
      }
      for (let i = 0; i + 1 < LENGTH; i++) {
        if (orig[i] === orig[i + 1]) continue;
        v[i] = orig[i + 1]!;
        v[i + 1] = orig[i]!;
        if (checksum(v) === 0) assert.fail(`swap at ${i} not caught in ${p}`);
        swaps++;
        v[i] = orig[i]!;
        v[i + 1] = orig[i + 1]!;
      }
    }
    assert.equal(seen.size, 100_000);
    assert.equal(typos, 100_000 * LENGTH * (ALPHABET.length - 1));
    assert.ok(swaps > 100_000 * 18);
    // The same through the public parser, for a sample (string handling included).
    const p = generateAppPassword();
    for (let i = 0; i < LENGTH; i++)
      for (const c of ALPHABET)
        if (c !== p[i]) assert.equal(normalizeAppPassword(p.slice(0, i) + c + p.slice(i + 1)), undefined);
  });

  it('tells the shape of an app password from other passwords, without the check letter (#17, task C)', () => {
    const p = generateAppPassword();
    for (const typed of [
      p,
      groupAppPassword(p),
      groupAppPassword(p).toUpperCase(),
      ` ${groupAppPassword(p)} `,
      groupAppPassword(p).replace(/ /g, '-'),
      'abcd abcd abcd abcd abcd',
    ])
      assert.ok(looksLikeAppPassword(typed), typed);
    for (const typed of [
      '',
      'granite-orchid-sail-31',
      'abcd efgh jkmn pqrs',
      'abcd efgh jkmn pqrs tuvw x',
      'abcd efgh jkmn pqrs tuv1',
      'correct horse battery staple',
      'abcd  efgh jkmn pqrs tuvw',
    ])
      assert.ok(!looksLikeAppPassword(typed), typed);
  });
});
