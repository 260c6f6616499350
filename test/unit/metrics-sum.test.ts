/**
 * Metrics summed over workers (SESAME_WORKERS, src/adapters/metrics.ts): each worker's snapshot,
 * combined by sumSnapshots, reads as if one process had counted everything; a metric that is one
 * thing seen by every worker (the SQLite write-ahead log) is not multiplied.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetrics, type MetricsSnapshot, type StoreUse, sumSnapshots } from '../../src/adapters/metrics.js';

const sqlite =
  (walBytes: number): (() => StoreUse) =>
  () => ({ kind: 'sqlite', connections: 3, walBytes });

/** The value of one series in a Prometheus text answer (undefined when absent). */
function series(body: string, name: string, labels = ''): number | undefined {
  const line = body
    .split('\n')
    .find((l) => (labels ? l.startsWith(`${name}{`) && l.includes(labels) : l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('metrics summed over workers', () => {
  it('sums counters, histograms and connections; takes the largest WAL size; scrape() answers for all once told how', async () => {
    const a = createMetrics(sqlite(4096));
    const b = createMetrics(sqlite(8192));
    for (let i = 0; i < 3; i++) a.request('/healthz', 'GET', 200, 2);
    for (let i = 0; i < 4; i++) b.request('/healthz', 'GET', 200, 30);
    b.request('/auth/basic', 'GET', 401, 1);
    a.verification('imap', 'ok', 'app_password');
    b.verification('imap', 'ok', 'app_password');
    b.verification('imap', 'wrong', 'wrong_password');
    a.lock('legacy', 'account');
    b.lock('legacy', 'account');

    const snapshots: MetricsSnapshot[] = [await a.snapshot(), await b.snapshot()];
    // What crosses the IPC channel is JSON: the sum must survive the round trip.
    const body = await sumSnapshots(JSON.parse(JSON.stringify(snapshots)) as MetricsSnapshot[]).metrics();
    const healthz = 'route="/healthz",method="GET"';
    assert.equal(series(body, 'sesame_http_requests_total', `${healthz},status="200"`), 7);
    assert.equal(series(body, 'sesame_http_requests_total', 'route="/auth/basic",method="GET",status="401"'), 1);
    assert.equal(series(body, 'sesame_http_request_duration_seconds_count', healthz), 7);
    assert.equal(series(body, 'sesame_http_request_duration_seconds_sum', healthz)!.toFixed(3), '0.126');
    // 3 answers in 2 ms (bucket 0.0025) from a, 4 in 30 ms (bucket 0.05) from b.
    assert.equal(series(body, 'sesame_http_request_duration_seconds_bucket', `${healthz},le="0.0025"`), 3);
    assert.equal(series(body, 'sesame_http_request_duration_seconds_bucket', `${healthz},le="0.05"`), 7);
    assert.equal(
      series(body, 'sesame_legacy_verifications_total', 'protocol="imap",outcome="ok",reason="app_password"'),
      2,
    );
    assert.equal(series(body, 'sesame_lockouts_total', 'scope="legacy",target="account"'), 2);
    assert.equal(series(body, 'sesame_lockouts_total', 'scope="browser",target="ip"'), 0);
    assert.equal(series(body, 'sesame_store_connections'), 6, 'each worker has its own connections');
    assert.equal(series(body, 'sesame_store_sqlite_wal_bytes'), 8192, 'one file: the largest size seen, not a sum');

    // A worker told to sum answers every scrape with the sum of what `gather` returns.
    a.sumAcross(async () => [await a.snapshot(), await b.snapshot()]);
    const scraped = await a.scrape();
    assert.match(scraped.contentType, /^text\/plain/);
    assert.equal(series(scraped.body, 'sesame_http_requests_total', `${healthz},status="200"`), 7);
    a.request('/healthz', 'GET', 200, 1);
    assert.equal(series((await a.scrape()).body, 'sesame_http_requests_total', `${healthz},status="200"`), 8);
    // b alone is not summing: its own counts only.
    assert.equal(series((await b.scrape()).body, 'sesame_http_requests_total', `${healthz},status="200"`), 4);
  });
});
