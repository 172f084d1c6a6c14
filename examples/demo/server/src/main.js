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
  const server = createServer(handle);
  server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
    process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
  });
  // As PID 1 in a container, node would ignore SIGTERM without a handler.
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
