/**
 * axe-core in a playwright-core page: injects the engine and returns the violations of impact
 * serious or critical, the ones the accessibility tests refuse.
 *
 * The pages' CSP allows scripts from 'self' only, so `page.addScriptTag({ content: axe.source })`
 * (an inline <script>) is blocked by the browser. `page.evaluate(axe.source)` runs through the
 * DevTools protocol, which the CSP does not govern, so the engine is injected that way and the
 * pages are tested under their real headers (no `bypassCSP`).
 */
import axe from 'axe-core';
import type { Page } from 'playwright-core';

/** The impacts that fail a page. Moderate and minor findings are reported but do not fail it. */
export const FAILING_IMPACTS: readonly string[] = ['serious', 'critical'];

/** One rule that failed, with where (CSS selectors) and why, as axe-core reports it. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  helpUrl: string;
  nodes: { target: string[]; html: string; failureSummary: string }[];
}

/** Injects axe-core into the page's main frame once (a navigation discards it). */
async function inject(page: Page): Promise<void> {
  const present = await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe === 'object');
  if (!present) await page.evaluate(axe.source);
}

/**
 * Runs axe-core's default rules (WCAG 2.x A/AA and best practices) on the page as it is now and
 * returns all violations. Call it after the page has settled (its scripts ran, the element to test
 * is shown).
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await inject(page);
  return page.evaluate(async () => {
    const engine = (globalThis as unknown as { axe: typeof axe }).axe;
    const result = await engine.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? null,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({
        target: n.target.map(String),
        html: n.html,
        failureSummary: n.failureSummary ?? '',
      })),
    }));
  });
}

/**
 * axe-core on the page as it is now, its violations split: `serious` (impact serious or critical,
 * what must be empty) and `lesser` (moderate and minor, to report).
 */
export async function seriousViolations(page: Page): Promise<{ serious: AxeViolation[]; lesser: AxeViolation[] }> {
  const all = await axeViolations(page);
  const failing = (v: AxeViolation) => v.impact !== null && FAILING_IMPACTS.includes(v.impact);
  return { serious: all.filter(failing), lesser: all.filter((v) => !failing(v)) };
}

/** A readable list for an assertion message: rule, impact, help and each failing element. */
export function formatViolations(violations: AxeViolation[]): string {
  return violations
    .map(
      (v) =>
        `${v.impact ?? '?'} ${v.id}: ${v.help} (${v.helpUrl})\n${v.nodes.map((n) => `    ${n.target.join(' ')}  ${n.html}\n      ${n.failureSummary.replace(/\n/g, '\n      ')}`).join('\n')}`,
    )
    .join('\n');
}
