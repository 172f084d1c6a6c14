// A small HTTP service for the deploy stage: `/` answers with its release,
// `/healthz` is the readiness URL, `/metrics` is Prometheus text with a
// request counter and a latency histogram. release.json decides the
// behaviour, so a "bad" release is a different artifact, never a runtime flag:
// `fail: true` answers 500, `delayMs` slows every answer down.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const release = JSON.parse(readFileSync(new URL('./release.json', import.meta.url), 'utf8'));
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const counts = new Map();
const hist = BUCKETS.map(() => 0);
let histCount = 0;
let histSum = 0;

function observe(code, seconds) {
  counts.set(code, (counts.get(code) ?? 0) + 1);
  BUCKETS.forEach((b, i) => {
    if (seconds <= b) hist[i]++;
  });
  histCount++;
  histSum += seconds;
}

function metrics() {
  const lines = [
    '# HELP http_requests_total Requests answered, by status code.',
    '# TYPE http_requests_total counter',
    ...[...counts].map(([code, n]) => `http_requests_total{code="${code}"} ${n}`),
    '# HELP http_request_duration_seconds Time to answer a request.',
    '# TYPE http_request_duration_seconds histogram',
    ...BUCKETS.map((b, i) => `http_request_duration_seconds_bucket{le="${b}"} ${hist[i]}`),
    `http_request_duration_seconds_bucket{le="+Inf"} ${histCount}`,
    `http_request_duration_seconds_sum ${histSum}`,
    `http_request_duration_seconds_count ${histCount}`,
  ];
  return `${lines.join('\n')}\n`;
}

const server = createServer((req, res) => {
  if (req.url === '/healthz') return void res.end('ok\n');
  if (req.url === '/metrics') {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    return void res.end(metrics());
  }
  const start = process.hrtime.bigint();
  const answer = () => {
    const code = release.fail ? 500 : 200;
    res.writeHead(code, { 'content-type': 'text/plain', 'x-release': String(release.version) });
    res.end(`${release.version}\n`);
    observe(String(code), Number(process.hrtime.bigint() - start) / 1e9);
  };
  if (release.delayMs) setTimeout(answer, release.delayMs);
  else answer();
});
const port = Number(process.env.PORT ?? 8080);
server.keepAliveTimeout = 1000;
server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
  process.stdout.write(`release ${release.version} listening on ${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
