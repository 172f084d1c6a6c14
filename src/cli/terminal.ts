/**
 * C0 controls but tab and newline, DEL, C1 controls, and the Unicode
 * bidirectional overrides and isolates: everything that can move the cursor,
 * retitle the window, write the clipboard (OSC 52) or reorder what is shown.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /\r\n|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text that is safe to write to a terminal: every control character a step
 * (or a file name, or a registry) could have put in it is shown as a visible
 * escape (`\x1b`, `\u202e`) instead of being interpreted; CRLF becomes a plain
 * newline. Only for printing: stored logs keep their raw bytes.
 */
export function sanitizeForTerminal(text: string): string {
  return text.replace(UNSAFE, (c) => {
    if (c === '\r\n') return '\n';
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
