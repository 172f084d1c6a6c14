// Appends N push events to an audit log as fast as it can: one of several processes writing at
// once in the concurrency test. Usage: audit-append.ts <audit.sqlite> <count> <writer id>
import { AuditLog } from '../../src/audit/index.js';
import { sha256 } from '../../src/core/digest.js';

const [file, count, writer] = process.argv.slice(2) as [string, string, string];
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
