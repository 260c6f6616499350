/** AnswerCache (issue #21, item 1): rows kept under the token they were read at, and only then. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { VerificationRow } from '../../src/domain/app-passwords/model.js';
import { AnswerCache } from '../../src/domain/legacy/answer-cache.js';

const row = (id: string) => ({ id }) as unknown as VerificationRow;

it('keeps a row read under the current token, and drops everything when the token moves', () => {
  let t: number | undefined = 1;
  const c = new AnswerCache({ token: () => t });
  const at = c.token();
  assert.equal(c.get('h', at), undefined);
  c.put('h', row('a'), at);
  assert.equal(c.get('h', c.token())?.id, 'a');
  t = 2;
  assert.equal(c.get('h', c.token()), undefined, 'a new token: memory dropped');
  assert.deepEqual(c.counts(), { hits: 1, misses: 2, bypassed: 0, rows: 0 });
});

it('does not keep a row whose read began under an older token (a change committed during the read)', () => {
  let t: number | undefined = 1;
  const c = new AnswerCache({ token: () => t });
  const at = c.token();
  t = 2; // the change lands while the row is being read
  c.put('h', row('stale'), at);
  assert.equal(c.get('h', c.token()), undefined);
  assert.equal(c.counts().rows, 0);
});

it('keeps and answers nothing while the store cannot vouch (no token), and starts empty after', () => {
  let t: number | undefined = 1;
  const c = new AnswerCache({ token: () => t });
  c.put('h', row('a'), c.token());
  t = undefined;
  const at = c.token();
  assert.equal(c.get('h', at), undefined);
  c.put('h', row('b'), at);
  assert.equal(c.counts().rows, 0);
  assert.equal(c.counts().bypassed, 1);
  t = 1; // the same token as before the gap: still nothing from before it
  assert.equal(c.get('h', c.token()), undefined);
});

it('is bounded: past its size, everything goes and it fills again', () => {
  const c = new AnswerCache({ token: () => 7 }, 2);
  for (const h of ['a', 'b', 'c']) c.put(h, row(h), c.token());
  assert.equal(c.counts().rows, 1);
  assert.equal(c.get('c', c.token())?.id, 'c');
});
