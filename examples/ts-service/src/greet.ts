import escapeHtml from 'escape-html';
import ms from 'ms';

/** The page the service answers with: the name escaped, the uptime in words. */
export function page(name: string, uptimeMs: number): string {
  return `<p>Hello, ${escapeHtml(name)}! Up for ${ms(uptimeMs, { long: true })}.</p>\n`;
}
