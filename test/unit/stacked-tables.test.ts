import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelTableCells } from '../../src/web/stacked-tables.js';

describe('labelTableCells (tables as stacked rows on a phone, #17 item 1)', () => {
  it("gives each body cell its column's header text, escaped, and marks the table", () => {
    const page =
      '<table id="t"><thead><tr><th scope="col">Name</th><th scope="col">Tom &amp; "Jerry"</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>' +
      '<tbody><tr><td>a</td><td class="x">b</td><td><button>Delete</button></td></tr><tr><th scope="row">c</th><td>d</td><td></td></tr></tbody></table>';
    const out = labelTableCells(page);
    assert.match(out, /^<div class="table-scroll"><table id="t" class="stack">/);
    assert.match(out, /<\/table><\/div>$/);
    assert.match(
      out,
      /<td data-label="Name">a<\/td><td data-label="Tom &amp; &quot;Jerry&quot;" class="x">b<\/td><td><button>/,
    );
    assert.match(
      out,
      /<th data-label="Name" scope="row">c<\/th><td data-label="Tom &amp; &quot;Jerry&quot;">d<\/td><td><\/td>/,
    );
    assert.equal(
      (out.match(/data-label/g) ?? []).length,
      4,
      'the header cells themselves and the hidden column get none',
    );
  });
  it('keeps an existing class and leaves a table without column headers alone', () => {
    assert.match(
      labelTableCells(
        '<table class="chart-data"><thead><tr><th>A</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>',
      ),
      /class="chart-data stack"/,
    );
    const plain = '<p>x</p><table id="methods"><tbody><tr><td>Authenticator app</td></tr></tbody></table>';
    assert.equal(labelTableCells(plain), plain);
  });
});
