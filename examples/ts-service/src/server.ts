import { createServer } from 'node:http';
import { page } from './greet.js';

const started = Date.now();
const port = Number(process.env.PORT ?? '8080');
createServer((req, res) => {
  const name = new URL(req.url ?? '/', 'http://localhost').searchParams.get('name') ?? 'world';
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page(name, Date.now() - started));
}).listen(port, () => console.log(`listening on ${port}`));
