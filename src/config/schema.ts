import { z } from 'zod';
import { LIMIT_KEYS } from './limits.js';

/*
 * The shape of airlock.yaml version 1, checked with zod after the YAML is
 * parsed. Objects strip unknown keys here: the unknown-key check runs on the
 * YAML tree instead, so it can point at the key and suggest the right name.
 * Names, globs, paths and the target graph are checked in rules.ts.
 *
 *   # /srv/hello/airlock.yaml
 *   version: 1
 *   name: hello
 *   cache:
 *     remote: { repository: registry.example.com/team/airlock-cache, mode: read, trust: [keys/ci.pub] }
 *   targets:
 *     lib: { sources: ["lib/**"], steps: ["node build.js"], outputs: ["dist/**"] }
 */

const epochSchema = z.number().int().nonnegative();
const stringList = z.array(z.string().min(1));
const envSchema = z.record(z.string(), z.string());

export const depObjectSchema = z.object({
  target: z.string().min(1),
  path: z.string().min(1).optional(),
});

export const toolchainSchema = z.object({
  host: stringList.default([]),
  /** An OCI image pinned by digest whose filesystem is the sandbox root (rules.ts checks the form). */
  image: z.string().min(1).optional(),
});

/**
 * The remote action cache, long form: `repository`, `mode` (read | readwrite),
 * `trust` (any | public key files), `signingKey`, `publishLogs`. rules.ts
 * checks its values; the short form is the repository alone.
 */
export const remoteCacheSchema = z.object({
  repository: z.string().min(1),
  mode: z.enum(['read', 'readwrite']).default('read'),
  trust: z.union([z.literal('any'), z.array(z.string().min(1))]).default([]),
  signingKey: z.string().min(1).optional(),
  publishLogs: z.boolean().default(false),
});

/** Shared caches: `remote` is a registry repository (`host[:port]/repo`) or its long form. */
export const cacheSchema = z.object({
  // Checked in rules.ts, where each field of the long form gets its own located message.
  remote: z.unknown().optional(),
});

export const imageSchema = z.object({
  /** The base image, pinned by digest (`<registry>/<repo>@sha256:…`); rules.ts checks the form. */
  base: z.string().min(1).optional(),
  entrypoint: z.array(z.string()).optional(),
  cmd: z.array(z.string()).optional(),
  env: envSchema.optional(),
  workingDir: z.string().min(1).optional(),
  exposedPorts: z.array(z.string()).optional(),
});

/**
 * A target's npm dependencies: the package-lock.json or pnpm-lock.yaml
 * (relative to the project root; the file's name decides whether npm or pnpm
 * installs it) whose packages are installed offline into the sandbox, and the
 * packages whose install scripts may run (`scripts`) or are knowingly
 * skipped (`skipScripts`): any other package with an install script fails
 * the install. `installer: npm` installs with npm itself instead of writing
 * the same tree from the store.
 */
export const npmSchema = z.object({
  lockfile: z.string().min(1).default('package-lock.json'),
  scripts: stringList.default([]),
  skipScripts: stringList.default([]),
  /** `airlock` (default): the tree is written from the store as npm ci would; `npm`: npm ci itself, in the sandbox. */
  installer: z.enum(['airlock', 'npm']).default('airlock'),
});

/** A downloaded file: where from and its sha256 (`airlock lock` records it when absent). */
export const fileSchema = z.object({
  url: z.string().min(1),
  sha256: z.string().min(1).optional(),
  executable: z.boolean().default(false),
  extract: z.boolean().default(false),
});

/** Where `airlock fetch` downloads from instead of the URLs in the locks (the hash still decides). */
export const mirrorsSchema = z.object({
  npm: z.string().min(1).optional(),
});

/** A step marked as a test: its command as written in `steps`, and the JUnit XML it writes. */
export const testSchema = z.union([
  z.string().min(1),
  z.object({ step: z.string().min(1), junit: z.string().min(1).optional() }),
]);

export const targetSchema = z.object({
  sources: stringList.min(1),
  exclude: stringList.default([]),
  deps: z.array(z.union([z.string().min(1), depObjectSchema])).default([]),
  toolchain: toolchainSchema.default({ host: [] }),
  env: envSchema.default({}),
  steps: stringList.min(1),
  outputs: stringList.min(1),
  sourceDateEpoch: epochSchema.optional(),
  image: imageSchema.optional(),
  /** Per-step timeout; read and checked in limits.ts (a number of seconds or "30m"). */
  timeout: z.unknown().optional(),
  /** Sandbox and output size caps; read and checked in limits.ts. */
  limits: z.unknown().optional(),
  npm: npmSchema.optional(),
  /** `files:` entries placed in the sandbox: name → path relative to the project root. */
  files: z.record(z.string(), z.string().min(1)).optional(),
  tests: z.array(testSchema).optional(),
});

export const projectSchema = z.object({
  version: z.literal(1),
  name: z.string().min(1),
  sourceDateEpoch: epochSchema.optional(),
  targets: z.record(z.string(), targetSchema),
  cache: cacheSchema.optional(),
  files: z.record(z.string(), fileSchema).optional(),
  mirrors: mirrorsSchema.optional(),
  /** Deploy environments; read and checked in environments.ts. */
  environments: z.unknown().optional(),
  /** The audit log's checkpoint key and schedule; read and checked in audit.ts. */
  audit: z.unknown().optional(),
});

export type ParsedProject = z.output<typeof projectSchema>;
export type ParsedTarget = z.output<typeof targetSchema>;

/** The keys allowed at each level of the file, for the unknown-key check. */
export const KNOWN_KEYS = {
  root: Object.keys(projectSchema.shape),
  target: Object.keys(targetSchema.shape),
  toolchain: Object.keys(toolchainSchema.shape),
  cache: Object.keys(cacheSchema.shape),
  remote: Object.keys(remoteCacheSchema.shape),
  image: Object.keys(imageSchema.shape),
  dep: Object.keys(depObjectSchema.shape),
  limits: Object.keys(LIMIT_KEYS),
  npm: Object.keys(npmSchema.shape),
  test: ['step', 'junit'],
  file: Object.keys(fileSchema.shape),
  mirrors: Object.keys(mirrorsSchema.shape),
} as const;
