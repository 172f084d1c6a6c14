import { describe, expect, it } from 'vitest';
import { sanitizeForTerminal } from './terminal.js';

describe('sanitizeForTerminal', () => {
  it('shows escape sequences, OSC 52 and bell as visible text', () => {
    expect(sanitizeForTerminal('\x1b]52;c;cHduZWQ=\x07ok')).toBe('\\x1b]52;c;cHduZWQ=\\x07ok');
    expect(sanitizeForTerminal('\x1b[2K\x1b[1A')).toBe('\\x1b[2K\\x1b[1A');
  });

  it('neutralises C1 controls, DEL, a lone carriage return and bidi overrides', () => {
    expect(sanitizeForTerminal('a\u009b2Jb\x7fc\rd')).toBe('a\\x9b2Jb\\x7fc\\x0dd');
    expect(sanitizeForTerminal('x\u202ey\u2066z')).toBe('x\\u202ey\\u2066z');
  });

  it('keeps newlines, tabs and printable Unicode, and turns CRLF into a newline', () => {
    expect(sanitizeForTerminal('a\tb\r\nc\nné ✓')).toBe('a\tb\nc\nné ✓');
  });
});
