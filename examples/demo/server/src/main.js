import { createServer } from 'node:http';
import { handle } from './app.js';

if (process.argv.includes('--self-test')) {
  // Checks the bundle loads and answers, without opening a port.
  const res = {
    writeHead() {},
    end(body) {
      process.stdout.write(body);
    },
  };
  handle({ url: '/' }, res);
} else {
  const port = Number(process.env.PORT ?? 8080);
  createServer(handle).listen(port, '127.0.0.1', () => {
    process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
  });
}
