import net from 'node:net';
import { AirlockError } from '../core/errors.js';
import type { DeployErrorCode } from './errors.js';

/*
 * The router: HAProxy, one frontend per region, the stable and the new
 * version as the two server slots of one backend. Every change goes through
 * the runtime API on the stats socket (`set server <backend>/<server> …`):
 * no reload, no dropped connection.
 */

/** A server slot as the runtime API reports it. */
export interface ServerState {
  name: string;
  address: string;
  port: number;
  weight: number;
}

/** What the deploy stage needs from a router. */
export interface Router {
  /** Points a slot at `127.0.0.1:port` (the slot keeps weight 0 until `weights`). */
  point(slot: string, port: number): Promise<void>;
  /** Sets every listed slot's weight in one connection, the raised one last (never a moment with no server). */
  weights(weights: Record<string, number>): Promise<void>;
  servers(): Promise<ServerState[]>;
}

/** Sends one runtime API command line and returns the answer. */
export function haproxyCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socket);
    let out = '';
    const timer = setTimeout(
      () => conn.destroy(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.end(`${command}\n`));
    conn.on('data', (d: string) => (out += d));
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(
        new AirlockError<DeployErrorCode>(
          'ROUTER_FAILED',
          `HAProxy socket ${socket}: ${err.message}`,
          {
            hint: 'Start HAProxy with `stats socket <path> level admin` in its global section, and name that path as router.haproxy.',
            details: { socket, command },
          },
        ),
      );
    });
    conn.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** The HAProxy router of one backend, through its stats socket. */
export function haproxyRouter(socket: string, backend: string): Router {
  const send = async (command: string): Promise<void> => {
    const answer = (await haproxyCommand(socket, command)).trim();
    // Successful `set server` commands answer nothing (or a notice starting with "IP changed").
    if (answer !== '' && !/changed|no need to change/i.test(answer))
      throw new AirlockError<DeployErrorCode>(
        'ROUTER_FAILED',
        `HAProxy refused "${command}": ${answer}`,
        {
          hint: `Check that backend ${backend} exists with the server slots named in airlock.yaml (router.servers).`,
          details: { socket, command, answer },
        },
      );
  };
  return {
    async point(slot, port) {
      await send(`set server ${backend}/${slot} addr 127.0.0.1 port ${port}`);
      await send(`set server ${backend}/${slot} state ready`);
    },
    async weights(weights) {
      const entries = Object.entries(weights).sort((a, b) => a[1] - b[1]);
      // One connection, several commands separated by ';': applied back to back.
      const line = entries
        .map(([slot, w]) => `set server ${backend}/${slot} weight ${w}`)
        .join(';');
      const answer = (await haproxyCommand(socket, line)).trim();
      if (answer !== '' && !/changed/i.test(answer))
        throw new AirlockError<DeployErrorCode>(
          'ROUTER_FAILED',
          `HAProxy refused "${line}": ${answer}`,
          {
            hint: `Check that backend ${backend} has the server slots ${Object.keys(weights).join(', ')}.`,
            details: { socket, line, answer },
          },
        );
    },
    async servers() {
      const text = await haproxyCommand(socket, `show servers state ${backend}`);
      // Columns (version 1): be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state
      // srv_uweight srv_iweight … srv_port at index 18.
      const out: ServerState[] = [];
      for (const line of text.split('\n')) {
        const f = line.trim().split(/\s+/);
        if (f.length < 19 || !/^\d+$/.test(f[0]!) || f[1] !== backend) continue;
        out.push({ name: f[3]!, address: f[4]!, weight: Number(f[7]), port: Number(f[18]) });
      }
      if (out.length === 0)
        throw new AirlockError<DeployErrorCode>(
          'ROUTER_FAILED',
          `HAProxy has no backend ${backend} (or no server in it)`,
          {
            hint: `Declare "backend ${backend}" with two server slots in haproxy.cfg.`,
            details: { socket, answer: text.slice(0, 500) },
          },
        );
      return out;
    },
  };
}

/**
 * An haproxy.cfg for one region: a frontend on `port`, a backend with two
 * slots (weight 0, parked on a closed port until a deploy points them), the
 * Prometheus exporter on `metricsPort`, and the admin socket. 127.0.0.1 only.
 */
export function haproxyConfig(opts: {
  socket: string;
  port: number;
  metricsPort: number;
  backend: string;
  servers?: [string, string];
}): string {
  const [a, b] = opts.servers ?? ['a', 'b'];
  return [
    'global',
    `  stats socket ${opts.socket} mode 600 level admin`,
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  option redispatch',
    '  retries 2',
    'frontend web',
    `  bind 127.0.0.1:${opts.port}`,
    `  default_backend ${opts.backend}`,
    'frontend metrics',
    `  bind 127.0.0.1:${opts.metricsPort}`,
    '  http-request use-service prometheus-exporter if { path /metrics }',
    `backend ${opts.backend}`,
    '  balance roundrobin',
    `  server ${a} 127.0.0.1:9 weight 0`,
    `  server ${b} 127.0.0.1:9 weight 0`,
    '',
  ].join('\n');
}
