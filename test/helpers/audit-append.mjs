// Appends N push events to an audit log as fast as it can: one of several processes writing at
// once in the concurrency test. Usage: audit-append.mjs <audit.sqlite> <count> <writer id>
// Runs on the compiled dist/ (built before the tests), as plain JavaScript: a
// child started without a TypeScript loader costs ~0.06 s of CPU, not ~0.4 s.
import { AuditLog } from '../../dist/audit/index.js';
import { sha256 } from '../../dist/core/digest.js';

const [file, count, writer] = process.argv.slice(2);
const log = AuditLog.open(file);
try {
  for (let i = 0; i < Number(count); i++) {
    const digest = sha256(`${writer} ${i}`);
    log.append(
      {
        type: 'push',
        data: {
          registry: `writer-${writer}`,
          repository: 'r',
          digest,
          reference: `writer-${writer}/r@${digest}`,
          attachments: i,
        },
      },
      { time: i, actor: { user: `writer-${writer}`, host: 'h' } },
    );
  }
} finally {
  log.close();
}
