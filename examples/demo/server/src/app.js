import { buildInfo } from './build-info.js';
import { greeting } from './greeting.js';
import { metrics, observe } from './metrics.js';
import { release } from './release.js';

// The request handler: a greeting and where this build came from, the
// readiness URL /healthz, and /metrics for Prometheus.
export function handle(req, res) {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  if (req.url === '/metrics') {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(metrics());
    return;
  }
  const start = process.hrtime.bigint();
  const code = release.fail ? 500 : 200;
  res.writeHead(code, { 'content-type': 'application/json', 'x-release': release.version });
  res.end(`${JSON.stringify({ greeting, release: release.version, build: buildInfo })}\n`);
  observe(String(code), Number(process.hrtime.bigint() - start) / 1e9);
}
