// Prometheus text for /metrics: requests by status code and a latency
// histogram, which the deploy gates read (error rate, p99).
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const codes = new Map();
const buckets = BUCKETS.map(() => 0);
let count = 0;
let sum = 0;

export function observe(code, seconds) {
  codes.set(code, (codes.get(code) ?? 0) + 1);
  BUCKETS.forEach((b, i) => {
    if (seconds <= b) buckets[i]++;
  });
  count++;
  sum += seconds;
}

export function metrics() {
  return [
    '# HELP http_requests_total Requests answered, by status code.',
    '# TYPE http_requests_total counter',
    ...[...codes].map(([code, n]) => `http_requests_total{code="${code}"} ${n}`),
    '# HELP http_request_duration_seconds Time to answer a request.',
    '# TYPE http_request_duration_seconds histogram',
    ...BUCKETS.map((b, i) => `http_request_duration_seconds_bucket{le="${b}"} ${buckets[i]}`),
    `http_request_duration_seconds_bucket{le="+Inf"} ${count}`,
    `http_request_duration_seconds_sum ${sum}`,
    `http_request_duration_seconds_count ${count}`,
    '',
  ].join('\n');
}
