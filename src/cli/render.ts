import type { AirlockEvent, EventSink } from '../core/events.js';
import { sanitizeForTerminal } from './terminal.js';
import type { CliIo, CliOutput } from './session.js';

export interface RenderOptions {
  json: boolean;
  verbose: boolean;
  color: boolean;
  /** Live progress line (stderr is a terminal and not --json). */
  tty: boolean;
}

/** Decides how to render from the global flags and the environment. */
export function renderOptions(
  opts: { json?: boolean; verbose?: boolean; color?: boolean },
  io: Pick<CliIo, 'stderr' | 'env'>,
): RenderOptions {
  const tty = io.stderr.isTTY === true && opts.json !== true && io.env['CI'] === undefined;
  const color = tty && opts.color !== false && io.env['NO_COLOR'] === undefined;
  return { json: opts.json === true, verbose: opts.verbose === true, color, tty };
}

const paint = (on: boolean, code: number, text: string): string =>
  on ? `\x1b[${code}m${text}\x1b[0m` : text;

/**
 * Turns library events into terminal output: a redrawn status line on a TTY,
 * plain lines otherwise; nothing but warnings on stderr with --json (stdout
 * then carries exactly one JSON document, written by the command).
 */
export function createRenderer(
  o: RenderOptions,
  stderr: CliOutput,
): { sink: EventSink; done(): void } {
  const state = new Map<string, AirlockEvent & { type: 'target' }>();
  const current = new Map<string, string>();
  let statusShown = false;
  let hashed = 0;
  const clearStatus = (): void => {
    if (statusShown) stderr.write('\r\x1b[K');
    statusShown = false;
  };
  const drawStatus = (): void => {
    if (!o.tty) return;
    const count = (s: string): number => [...state.values()].filter((e) => e.state === s).length;
    const running = [...current.entries()].map(([t, c]) => `${t}: ${c}`).join(' | ');
    const line = `[${count('built') + count('cached')}/${state.size} done: ${count('built')} built, ${count('cached')} cached, ${count('running')} running${hashed ? `, ${(hashed / 1e6).toFixed(1)} MB hashed` : ''}] ${running}`;
    stderr.write(`\r\x1b[K${line.slice(0, (stderr.columns || 100) - 1)}`);
    statusShown = true;
  };
  const line = (text: string): void => {
    clearStatus();
    stderr.write(`${text}\n`);
    drawStatus();
  };

  const sink: EventSink = (e) => {
    switch (e.type) {
      case 'log':
        if (e.level === 'debug' && !o.verbose) return;
        if (o.json && e.level !== 'warn' && e.level !== 'error') return;
        {
          const message = sanitizeForTerminal(e.message);
          line(
            e.level === 'warn'
              ? paint(o.color, 33, `warning: ${message}`)
              : e.level === 'error'
                ? paint(o.color, 31, `error: ${message}`)
                : message,
          );
        }
        return;
      case 'target':
        state.set(e.target, e);
        if (e.state !== 'running') current.delete(e.target);
        if (o.json) return;
        if (e.state === 'built') line(`${paint(o.color, 32, 'built ')} ${e.target}`);
        else if (e.state === 'cached')
          line(`${paint(o.color, 36, 'cached')} ${e.target}${e.detail ? ` (${e.detail})` : ''}`);
        else if (e.state === 'failed') line(`${paint(o.color, 31, 'failed')} ${e.target}`);
        else if (e.state === 'skipped')
          line(`${paint(o.color, 33, 'skipped')} ${e.target} (a dependency failed)`);
        else if (e.state === 'running' && !o.tty) line(`building ${e.target}`);
        else drawStatus();
        return;
      case 'step': {
        const command = sanitizeForTerminal(e.command);
        current.set(e.target, `step ${e.index + 1}/${e.total}: ${command}`);
        if (o.json) return;
        if (o.tty) drawStatus();
        else line(`[${e.target}] step ${e.index + 1}/${e.total}: ${command}`);
        return;
      }
      case 'output':
        if (o.json) return;
        for (const l of sanitizeForTerminal(e.text).replace(/\n$/, '').split('\n'))
          line(paint(o.color, 2, `[${e.target}] ${l}`));
        return;
      case 'progress':
        if (e.phase === 'hash' && e.bytes !== undefined) hashed = e.bytes;
        if (o.tty) drawStatus();
        return;
    }
  };
  return { sink, done: clearStatus };
}
