/**
 * The LDAP decoder and DN parser against hostile input: random bytes, captured client messages
 * with bytes changed, and random DN strings. Whatever arrives, the decoder answers a message or
 * throws BerError (the server then sends a Notice of Disconnection), never anything else, and the
 * framing never announces more than the input's limit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BerError, elementLength } from '../../src/adapters/ldap/ber.js';
import { decodeMessage } from '../../src/adapters/ldap/protocol.js';
import { bindAddress, DnError, parseDn } from '../../src/adapters/ldap/directory.js';
import { params } from './settings.js';

/** ldapsearch's paged search and ldapwhoami's bind (test/unit/ldap-codec.test.ts). */
const SEEDS = [
  '3081af020102638184041264633d636f6e746f736f2c64633d746573740a01020a0100020105020100010100a053a31c040b6f626a656374436c617373040d696e65744f7267506572736f6ea125a40a0402636e30048002416ea41704046d61696c300f820d40636f6e746f736f2e74657374a20ca30a04037569640403626f62300a0402636e04046d61696ca02330210416312e322e3834302e3131333535362e312e342e3331390407300502010a0400',
  '3036020101603102010304247569643d616e6e2c6f753d70656f706c652c64633d636f6e746f736f2c64633d746573748006736563726574',
].map((h) => Buffer.from(h, 'hex'));

function decodesOrRefuses(bytes: Buffer) {
  try {
    const n = elementLength(bytes, 64 * 1024);
    if (n === undefined) return;
    assert.ok(n <= bytes.length);
    decodeMessage(bytes.subarray(0, n));
  } catch (e) {
    if (!(e instanceof BerError)) throw e;
  }
}

describe('LDAP codec fuzzing', () => {
  it('random bytes: a message or BerError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (a) => decodesOrRefuses(Buffer.from(a))),
      params(2000),
    );
  });

  it("OpenLDAP clients' messages with bytes changed: a message or BerError", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SEEDS),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (seed, changes) => {
          const b = Buffer.from(seed);
          for (const [at, v] of changes) b[at % b.length] = v;
          decodesOrRefuses(b);
        },
      ),
      params(3000),
    );
  });

  it('random DNs: parsed or DnError; a bind name maps to an address or nothing', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          parseDn(s);
        } catch (e) {
          if (!(e instanceof DnError)) throw e;
        }
        const a = bindAddress(s);
        assert.ok(a === undefined || typeof a === 'string');
      }),
      params(2000),
    );
  });
});
