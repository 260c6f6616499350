/**
 * `sesame keys reencrypt`: after a rotation of the encryption key, every stored encrypted value is
 * sealed again under the current key, so that the previous key can be dropped. What is stored
 * encrypted: TOTP seeds (long-lived) and, in sign-in flows that have not expired, a pending seed and
 * the app password or recovery codes shown once. Idempotent: a value already under the current key
 * is left alone (told by its key id, without opening it).
 *
 * The storage side (which rows, one transaction) is SealedValueStore; which fields are sealed and
 * with what associated data is decided here (SEALED_AAD).
 */
import type { Aead } from '../../lib/crypto/aead.js';
import type { FlowData } from '../flows/flow.js';
import { SEALED_AAD } from './sealed.js';

/** Storage's side of re-encryption: every stored sealed value, in one transaction. */
export interface SealedValueStore {
  /**
   * In one transaction: passes every stored TOTP seed, and the data of every flow that has not
   * expired at `now`, to `visit`, and writes back what it returns where that differs (each write
   * conditional on the row being unchanged since it was read). Whatever `visit` throws, `finish`
   * included, rolls the whole transaction back.
   */
  visitSealed(now: number, visit: SealedVisitor): Promise<void>;
}

export interface SealedVisitor {
  /** A stored TOTP seed; returns the value to store (the same string: no change). */
  seed(m: { methodId: string; address: string; sealed: string }): string;
  /** A live flow's data; returns the data to store (the same object: no change). */
  flow(f: { flowId: string; data: FlowData }): FlowData;
  /** Called last, inside the transaction: may still throw to undo everything. */
  finish?(): void;
}

export interface ReencryptionReport {
  /** TOTP seeds stored, and how many of them were (or, for a check, would be) sealed again. */
  seeds: { total: number; stale: number };
  /** Sealed values in live flows, and how many were (would be) sealed again. */
  flowValues: { total: number; stale: number; unreadable: number };
}

/** Seeds no configured key opens: `reencrypt` changes nothing then, and names them. */
export class ReencryptionError extends Error {
  readonly code = 'unreadable_seeds';
  constructor(readonly seeds: { methodId: string; address: string }[]) {
    super(
      `${seeds.length} TOTP seed(s) open under no configured encryption key (neither the current key nor a previous one), so nothing was re-encrypted: ` +
        `${seeds
          .slice(0, 10)
          .map((s) => `${s.address} (method ${s.methodId})`)
          .join(', ')}${seeds.length > 10 ? ', ...' : ''}. ` +
        'Configure the key they were sealed with as a previous key and run this again, or have these users register their authenticator app again (sesame user reregister <address>).',
    );
    this.name = 'ReencryptionError';
  }
}

/** The sealed fields of a flow's data, with their associated data and a setter. */
function flowFields(
  flowId: string,
  data: FlowData,
): { sealed: string; aad: string; set: (d: FlowData, v: string) => void }[] {
  const out: { sealed: string; aad: string; set: (d: FlowData, v: string) => void }[] = [];
  const pending = data.pending;
  if (pending?.secretEnc)
    out.push({
      sealed: pending.secretEnc,
      aad: SEALED_AAD.totpSeed(pending.methodId),
      set: (d, v) => (d.pending!.secretEnc = v),
    });
  if (data.appPasswordEnc)
    out.push({
      sealed: data.appPasswordEnc,
      aad: SEALED_AAD.flowAppPassword(flowId),
      set: (d, v) => (d.appPasswordEnc = v),
    });
  if (data.recoveryCodesEnc)
    out.push({
      sealed: data.recoveryCodesEnc,
      aad: SEALED_AAD.flowRecoveryCodes(flowId),
      set: (d, v) => (d.recoveryCodesEnc = v),
    });
  return out;
}

/**
 * Seals every stored value that is not under the current key again under it (`write`), or only
 * counts them (`write: false`, for the check before a previous key is dropped). Throws
 * ReencryptionError, having changed nothing, when a TOTP seed opens under no configured key. A flow
 * value that opens under none is left as it is and counted: the flow fails at its next step anyway,
 * and expires within minutes.
 */
export async function reencryptAll(
  store: SealedValueStore,
  aead: Aead,
  now: number,
  opts: { write: boolean },
): Promise<ReencryptionReport> {
  const report: ReencryptionReport = {
    seeds: { total: 0, stale: 0 },
    flowValues: { total: 0, stale: 0, unreadable: 0 },
  };
  const unreadable: { methodId: string; address: string }[] = [];
  await store.visitSealed(now, {
    seed({ methodId, address, sealed }) {
      report.seeds.total++;
      if (aead.isCurrent(sealed)) return sealed;
      report.seeds.stale++;
      if (!opts.write) return sealed;
      try {
        return aead.reseal(sealed, SEALED_AAD.totpSeed(methodId));
      } catch {
        unreadable.push({ methodId, address });
        return sealed;
      }
    },
    flow({ flowId, data }) {
      let next = data;
      for (const f of flowFields(flowId, data)) {
        report.flowValues.total++;
        if (aead.isCurrent(f.sealed)) continue;
        report.flowValues.stale++;
        if (!opts.write) continue;
        try {
          const v = aead.reseal(f.sealed, f.aad);
          if (next === data) next = structuredClone(data);
          f.set(next, v);
        } catch {
          report.flowValues.unreadable++;
        }
      }
      return next;
    },
    finish() {
      if (unreadable.length) throw new ReencryptionError(unreadable);
    },
  });
  return report;
}
