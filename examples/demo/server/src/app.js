import { greeting } from '../lib/greeting.js';
import { buildInfo } from './build-info.js';

// The request handler: a greeting and where this build came from.
export function handle(req, res) {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify({ greeting, build: buildInfo })}\n`);
}
