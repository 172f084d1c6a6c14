/**
 * What the library tells the outside while it works. The library never
 * prints; `cli/` renders these as progress, plain lines or JSON.
 */
export type AirlockEvent =
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string; target?: string }
  | {
      type: 'target';
      target: string;
      state: 'queued' | 'running' | 'cached' | 'built' | 'failed' | 'skipped';
      detail?: string;
    }
  | { type: 'step'; target: string; index: number; total: number; command: string }
  | { type: 'output'; target: string; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'progress'; phase: string; done: number; total?: number; bytes?: number };

export type EventSink = (event: AirlockEvent) => void;

/** A sink that drops everything. */
export const noEvents: EventSink = () => {};
