/**
 * A nesting limit for JSON bodies, checked before JSON.parse sees them: a 64 KiB body of 32,000
 * nested arrays held the event loop ~30 ms in JSON.parse and the validators after it (issue #15),
 * and no Sesame API takes more than a few levels. One linear pass over the text, counting brackets
 * outside strings: microseconds for the largest body allowed.
 */

/** Deepest nesting any body may have; Sesame's own bodies need 4. */
export const MAX_JSON_DEPTH = 32;

/** True when `text` opens more than `max` arrays or objects inside one another (brackets inside strings do not count). */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return false;
}
