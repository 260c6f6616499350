/**
 * Tables on a phone (#17, item 1): each row becomes a card of "Label: value" lines, as GOV.UK's
 * and Fluent's responsive tables do. The CSS (`table.stack` in public/sesame.css) shows a cell's
 * `data-label` before it; this puts the column's header text there, once for the whole page, so no
 * template has to repeat its headers per cell and a new table gets it for free.
 *
 * It reads only Sesame's own markup (pages built by the escaping `html` tag): a table with a
 * `<thead>` whose header cells line up one to one with the body's cells (no colspan), no nested
 * tables. Each such table is wrapped in a `div.table-scroll`. A header that is visually hidden (a checkbox or actions column) gives no label. Header
 * text is already escaped, so it goes into the attribute as it is.
 */
const TABLE = /<table\b([^>]*)>([\s\S]*?)<\/table>/g;
const HEAD = /<thead>([\s\S]*?)<\/thead>/;
const HEADER_CELL = /<th\b[^>]*>([\s\S]*?)<\/th>/g;
const ROW = /<tr\b[^>]*>[\s\S]*?<\/tr>/g;
const CELL_OPEN = /<(td|th)\b/g;

const text = (cell: string) =>
  cell.includes('visually-hidden')
    ? ''
    : cell
        .replace(/<[^>]*>/g, '')
        .replace(/\s+/g, ' ')
        .trim();

export function labelTableCells(page: string): string {
  if (!page.includes('<thead>')) return page;
  return page.replace(TABLE, (whole, attrs: string, inner: string) => {
    const head = HEAD.exec(inner);
    if (!head) return whole;
    const labels = [...(head[1] ?? '').matchAll(HEADER_CELL)].map((m) => text(m[1] ?? ''));
    const bodyStart = inner.indexOf('</thead>') + '</thead>'.length;
    const body = inner.slice(bodyStart).replace(ROW, (row) => {
      let i = 0;
      return row.replace(CELL_OPEN, (open) => {
        const label = labels[i++];
        return label ? `${open} data-label="${label.replace(/"/g, '&quot;')}"` : open;
      });
    });
    const cls = /\bclass="([^"]*)"/.exec(attrs);
    const tableAttrs = cls ? attrs.replace(cls[0], `class="${cls[1]} stack"`) : `${attrs} class="stack"`;
    // The wrapper scrolls a table that is still too wide (an address with nothing to break at) inside
    // itself, so the page never scrolls sideways.
    return `<div class="table-scroll"><table${tableAttrs}>${inner.slice(0, bodyStart)}${body}</table></div>`;
  });
}
