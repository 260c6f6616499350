/**
 * Keyboard-only walking for browser tests: press Tab (or Shift+Tab) until a wanted element has the
 * focus, and at every stop on the way require a visible focus indicator.
 *
 * "Visible" is measured, not assumed: the focused element's computed outline and box-shadow must
 * show something and differ from the same element unfocused. The unfocused look comes from a twin
 * (a shallow copy without id, name or autofocus) put next to it for one synchronous moment, so the
 * real element keeps the focus and the browser's own :focus-visible judgement is what is measured.
 */
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

/** What draws a focus ring. */
interface Look {
  outline: string;
  shadow: string;
}

/** The element that has the focus, its look focused and unfocused, and where it is. */
export interface FocusStop {
  /** tag#id.class "accessible text", for messages. */
  element: string;
  focused: Look;
  unfocused: Look;
  /** Has a box inside the viewport (a skip link that stays off screen would not). */
  onScreen: boolean;
}

/** The focused element as a FocusStop, or null when nothing in the page has the focus. */
export async function focusStop(page: Page): Promise<FocusStop | null> {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!(el instanceof HTMLElement) || el === document.body) return null;
    const look = (e: Element) => {
      const s = getComputedStyle(e);
      return {
        outline:
          s.outlineStyle === 'none' || s.outlineWidth === '0px'
            ? 'none'
            : `${s.outlineStyle} ${s.outlineWidth} ${s.outlineColor}`,
        shadow: s.boxShadow,
      };
    };
    const focused = look(el);
    const twin = el.cloneNode(false) as HTMLElement;
    // Without a name a radio twin cannot uncheck its original; without an id nothing else moves.
    for (const a of ['id', 'name', 'autofocus', 'form']) twin.removeAttribute(a);
    el.after(twin);
    const unfocused = look(twin);
    twin.remove();
    const r = el.getBoundingClientRect();
    const onScreen =
      r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth;
    const text =
      (el.getAttribute('aria-label') ?? el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 40) ||
      (el as HTMLInputElement).value ||
      '';
    const cls =
      el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
    return {
      element: `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${cls} "${text}"`,
      focused,
      unfocused,
      onScreen,
    };
  });
}

/** Whether a stop shows the user where the focus is: a ring that the unfocused element lacks, on screen. */
export function hasVisibleFocus(stop: FocusStop): boolean {
  const drawn = stop.focused.outline !== 'none' || stop.focused.shadow !== 'none';
  const changed = stop.focused.outline !== stop.unfocused.outline || stop.focused.shadow !== stop.unfocused.shadow;
  return drawn && changed && stop.onScreen;
}

/** Fails unless the focused element (there must be one) has a visible focus indicator. */
export async function assertVisibleFocus(page: Page): Promise<FocusStop> {
  const stop = await focusStop(page);
  assert.ok(stop, 'something has the keyboard focus');
  assert.ok(
    hasVisibleFocus(stop),
    `no visible focus indicator on ${stop.element}: focused ${JSON.stringify(stop.focused)}, unfocused ${JSON.stringify(stop.unfocused)}, on screen ${stop.onScreen}`,
  );
  return stop;
}

/**
 * Presses `key` (Tab, or Shift+Tab to go back) until the element matching `selector` has the
 * focus, requiring a visible focus indicator at every stop, at most `max` presses. Returns the
 * stops passed (the last one is the target).
 */
export async function tabTo(
  page: Page,
  selector: string,
  { key = 'Tab', max = 40 }: { key?: 'Tab' | 'Shift+Tab'; max?: number } = {},
): Promise<FocusStop[]> {
  const stops: FocusStop[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(key);
    const stop = await assertVisibleFocus(page);
    stops.push(stop);
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return stops;
  }
  assert.fail(
    `${selector} not reached with ${max} presses of ${key}; stops: ${stops.map((s) => s.element).join(' | ')}`,
  );
}
