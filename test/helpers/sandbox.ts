// Shared fixtures for the sandbox tests: temp dirs, host tools and servers on 127.0.0.1.
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { SandboxSpec } from '../../src/sandbox/index.js';

/** A fresh directory under the OS temp dir and a function that removes it. */
export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = realpathSync(mkdtempSync(join(tmpdir(), `airlock-${prefix}-`)));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A temp dir made before the enclosing describe's tests and removed after them (not made when they are all skipped). */
export function useTempDir(prefix: string): { readonly path: string } {
  let dir: { path: string; cleanup: () => void } | undefined;
  beforeAll(() => {
    dir = tempDir(prefix);
  });
  afterAll(() => dir?.cleanup());
  return {
    get path(): string {
      if (dir === undefined) throw new Error('useTempDir: path read outside a test');
      return dir.path;
    },
  };
}

/** The real path of the `node` running the tests, to be used as a sandbox tool. */
export function hostNode(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      return realpathSync(join(dir, 'node'));
    } catch {
      // keep looking
    }
  }
  return realpathSync(process.execPath);
}

/** A spec with no inputs, the host node as the only tool and a fixed SOURCE_DATE_EPOCH. */
export function baseSpec(
  workDir: string,
  command: string,
  extra: Partial<SandboxSpec> = {},
): SandboxSpec {
  return {
    workDir,
    inputs: [],
    tools: [{ name: 'node', path: hostNode() }],
    env: {},
    sourceDateEpoch: 1_700_000_000,
    command,
    ...extra,
  };
}

/** A shell word quoting `s` for /bin/sh. */
export function shq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** A random token that cannot appear by accident. */
export function token(): string {
  return randomBytes(12).toString('hex');
}

/** A listening stream server (TCP or abstract unix) that counts connections. */
export interface CountingServer {
  connections: number;
  close: () => Promise<void>;
}

function countingServer(): { server: Server; state: CountingServer } {
  const server = createServer((socket) => {
    state.connections++;
    // The probe exits as soon as it has connected; a reset is expected.
    socket.on('error', () => {});
    socket.end('hello from the host\n');
  });
  const state: CountingServer = {
    connections: 0,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  return { server, state };
}

/** A TCP server on 127.0.0.1 on a random free port. */
export async function startTcpServer(): Promise<CountingServer & { port: number }> {
  const { server, state } = countingServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, { port: (server.address() as AddressInfo).port });
}

/** A server on a Linux abstract unix socket (`\0name`), which lives in the network namespace. */
export async function startAbstractServer(): Promise<CountingServer & { name: string }> {
  const { server, state } = countingServer();
  const name = `airlock-test-${token()}`;
  await new Promise<void>((resolve) => server.listen(`\0${name}`, resolve));
  return Object.assign(state, { name });
}

/** A UDP server on 127.0.0.1 that records every datagram it receives. */
export async function startUdpServer(): Promise<{
  port: number;
  received: string[];
  socket: UdpSocket;
  close: () => Promise<void>;
}> {
  const socket = createSocket('udp4');
  const received: string[] = [];
  socket.on('message', (msg) => received.push(msg.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: socket.address().port,
    received,
    socket,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
