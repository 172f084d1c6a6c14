import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  parseDocument,
  visit,
  type Document,
  type Node,
  type YAMLMap,
} from 'yaml';
import { isAirlockError } from '../core/errors.js';
import { describeDifference, diffLocks, parseLock, type Lock } from '../lock/model.js';
import { npmEntries, parseNpmLock, type NpmLockfile } from '../lock/npm-lock.js';
import { imageFinding } from './image.js';
import { yamlParseFinding } from './npm.js';
import { finding, RULES, type Span } from './rules.js';
import { pinPackagesFix, runsScriptFromNetwork, unversionedInstalls } from './shell.js';
import type { Finding, SourceFile } from './types.js';

/** A parsed YAML file with positions. */
interface Parsed {
  doc: Document.Parsed;
  lc: LineCounter;
}

function parse(file: SourceFile): Parsed | Finding {
  const lc = new LineCounter();
  const doc = parseDocument(file.text, { lineCounter: lc, uniqueKeys: false });
  return yamlParseFinding(file, doc) ?? { doc, lc };
}

function at(lc: LineCounter, node: Node | null | undefined): Span {
  const r = node?.range;
  if (!r) return { line: 1, column: 1 };
  const a = lc.linePos(r[0]);
  const b = lc.linePos(r[1]);
  return { line: a.line, column: a.col, endLine: b.line, endColumn: b.col };
}

/** The image string of `image: x` or `image: { name: x }`. */
function imageValue(node: unknown): { ref: string; node: Node } | undefined {
  if (isScalar(node) && typeof node.value === 'string') return { ref: node.value, node };
  if (isMap(node)) {
    const n = node.get('name', true) ?? node.get('image', true);
    if (isScalar(n) && typeof n.value === 'string') return { ref: n.value, node: n };
  }
  return undefined;
}

const BUILD_CMD_RE =
  /\b(?:npm\s+run\s+build[\w:-]*|yarn\s+build[\w:-]*|pnpm\s+(?:run\s+)?build[\w:-]*|docker\s+(?:buildx\s+)?build|make(?:\s|$)|go\s+build|airlock\s+build|mvn\s+package|gradle\w*\s+build|cargo\s+build)/;
const ENV_WORD_RE = /\b(?:staging|production|prod|stage)\b/i;
const NPM_INSTALL_RE = /\bnpm\s+(?:install|i)\b(?![^\n&;|]*\s-g\b)/;

function runLines(step: YAMLMap, key: string): { text: string; node: Node }[] {
  const v = step.get(key, true);
  if (isScalar(v) && typeof v.value === 'string') return [{ text: v.value, node: v }];
  if (isSeq(v))
    return v.items.flatMap((i) =>
      isScalar(i) && typeof i.value === 'string' ? [{ text: i.value, node: i }] : [],
    );
  return [];
}

/** What CI rules need to know about the repository. */
export interface CiContext {
  /** The repository root has a lockfile, so `npm ci` can install it. */
  npmLockfile: boolean;
}

function commandFindings(
  file: string,
  lc: LineCounter,
  cmds: { text: string; node: Node }[],
  ctx: CiContext,
): Finding[] {
  const out: Finding[] = [];
  for (const { text, node } of cmds) {
    for (const line of text.split('\n')) {
      if (line.trim().startsWith('#')) continue;
      const m = NPM_INSTALL_RE.exec(line);
      // `npm install <name>` adds a package on purpose; `npm install`,
      // `npm install --flags` and `npm install && …` install the whole tree.
      if (m && !/\bnpm\s+(?:install|i)(?:\s+-\S+)*\s+[^-\s&|;]/.test(line)) {
        const loc = at(lc, node);
        const offset = text.indexOf(m[0]);
        const single =
          ctx.npmLockfile &&
          !text.includes('\n') &&
          offset >= 0 &&
          isScalar(node) &&
          node.type === 'PLAIN';
        out.push(
          finding(
            RULES.ciNpmInstall,
            file,
            loc,
            '`npm install` in CI can change the lockfile',
            ctx.npmLockfile
              ? 'Use `npm ci`, which installs exactly the lockfile or fails.'
              : 'The repository has no lockfile, so every run resolves afresh: commit package-lock.json (`npm install --package-lock-only`), then install exactly it.',
            single
              ? {
                  replacement: {
                    line: loc.line,
                    column: loc.column + offset,
                    endLine: loc.line,
                    endColumn: loc.column + offset + m[0].length,
                    text: 'npm ci',
                  },
                }
              : {},
          ),
        );
      }
      for (const install of unversionedInstalls(line)) {
        out.push(
          finding(
            RULES.ciAptUnversioned,
            file,
            at(lc, node),
            `packages installed without versions: ${install.packages.join(', ')}`,
            `${pinPackagesFix(install)} Or run the job in a container image pinned by digest that has them.`,
          ),
        );
      }
      if (runsScriptFromNetwork(line)) {
        out.push(
          finding(
            RULES.networkScript,
            file,
            at(lc, node),
            `runs a script straight from the network: \`${line.trim()}\``,
            'Download the script to a file, verify it (`echo "<sha256>  install.sh" | sha256sum -c -`), then run it; or use a pinned action or package instead.',
          ),
        );
      }
      if (BUILD_CMD_RE.test(line) && ENV_WORD_RE.test(line)) {
        out.push(
          finding(
            RULES.ciPerEnvBuild,
            file,
            at(lc, node),
            `build command parameterised by environment: \`${line.trim()}\``,
            'Build once without environment parameters, push the digest, and deploy that same digest to each environment with per-environment config.',
          ),
        );
      }
    }
  }
  return out;
}

/** Runs the GitHub Actions rules: action SHAs, npm install, container/service digests, per-environment builds. */
export function checkGithubWorkflow(
  file: SourceFile,
  ctx: CiContext = { npmLockfile: true },
): Finding[] {
  const p = parse(file);
  if (!('doc' in p)) return [p];
  const { doc, lc } = p;
  const out: Finding[] = [];
  const jobs = doc.get('jobs', true);
  if (!isMap(jobs)) return out;
  const envBuildJobs: { id: string; node: Node }[] = [];
  for (const jobPair of jobs.items) {
    const job = jobPair.value;
    const jobId = isScalar(jobPair.key) ? String(jobPair.key.value) : '';
    if (!isMap(job)) continue;
    const container = imageValue(job.get('container', true));
    if (container) {
      const f = imageFinding(
        file.path,
        at(lc, container.node),
        container.ref,
        `job ${jobId} container image`,
      );
      if (f) out.push(f);
    }
    const services = job.get('services', true);
    if (isMap(services)) {
      for (const s of services.items) {
        const img = imageValue(isMap(s.value) ? s.value.get('image', true) : s.value);
        if (!img) continue;
        const f = imageFinding(
          file.path,
          at(lc, img.node),
          img.ref,
          `service ${isScalar(s.key) ? String(s.key.value) : ''} image`,
        );
        if (f) out.push(f);
      }
    }
    const steps = job.get('steps', true);
    let builds = false;
    const shipping = new ShippingJob();
    if (isSeq(steps)) {
      for (const step of steps.items) {
        if (!isMap(step)) continue;
        const uses = step.get('uses', true);
        if (isScalar(uses) && typeof uses.value === 'string') {
          const ref = uses.value;
          if (ref.startsWith('docker://')) {
            const f = imageFinding(
              file.path,
              at(lc, uses),
              ref.slice('docker://'.length),
              'step image',
            );
            if (f) out.push(f);
          } else if (!ref.startsWith('./')) {
            const version = ref.includes('@') ? ref.slice(ref.lastIndexOf('@') + 1) : '';
            if (!/^[0-9a-f]{40}$/.test(version)) {
              out.push(
                finding(
                  RULES.ciActionSha,
                  file.path,
                  at(lc, uses),
                  `\`${ref}\` is pinned to ${version ? `the mutable ref \`${version}\`` : 'nothing'}`,
                  `Pin the full commit: \`${ref.split('@')[0]}@<40-hex commit> # ${version || 'vX'}\` (resolve with \`git ls-remote\`).`,
                ),
              );
            }
          }
        }
        const cmds = runLines(step, 'run');
        if (cmds.some((c) => BUILD_CMD_RE.test(c.text))) builds = true;
        out.push(...commandFindings(file.path, lc, cmds, ctx));
        if (isScalar(uses) && typeof uses.value === 'string') {
          const restore = step.getIn(['with', 'restore-keys'], true);
          if (/^actions\/cache(?:\/restore)?@/.test(uses.value) && restore) {
            const w = step.get('with', true);
            const pair = isMap(w)
              ? w.items.find((i) => isScalar(i.key) && i.key.value === 'restore-keys')
              : undefined;
            out.push(
              finding(
                RULES.ciCacheRestoreKeys,
                file.path,
                at(lc, (pair?.key as Node | undefined) ?? uses),
                'the cache falls back to `restore-keys` when its exact key misses',
                'Drop `restore-keys` so only a cache saved for exactly these inputs (the `key` hashes the lockfile) is restored, or cache only content-addressed data that is verified on use.',
              ),
            );
          }
        }
        shipping.observe(step, uses, cmds);
      }
    }
    const ships = shipping.firstShip();
    if (ships && !shipping.provenance) {
      out.push(
        finding(
          RULES.ciNoProvenance,
          file.path,
          at(lc, ships.node),
          `job ${jobId} ships (${ships.what}) with no step that produces signed provenance`,
          'Produce provenance and a signature for what the job ships: `actions/attest-build-provenance` on the pushed digest, or BuildKit provenance (`provenance: mode=max`) plus `cosign sign` / `cosign attest`.',
        ),
      );
    }
    const matrix = job.getIn(['strategy', 'matrix'], true);
    if (builds && isMap(matrix)) {
      for (const m of matrix.items) {
        const values = isSeq(m.value)
          ? m.value.items.map((i) => (isScalar(i) ? String(i.value) : ''))
          : [];
        if (values.filter((v) => ENV_WORD_RE.test(v)).length >= 2) {
          out.push(
            finding(
              RULES.ciPerEnvBuild,
              file.path,
              at(lc, m.key as Node),
              `job ${jobId} builds once per environment (matrix ${String((m.key as { value?: unknown }).value)}: ${values.join(', ')})`,
              'Build once, then promote the same digest to each environment with per-environment config.',
            ),
          );
        }
      }
    }
    if (builds && /build/i.test(jobId) && ENV_WORD_RE.test(jobId))
      envBuildJobs.push({ id: jobId, node: jobPair.key as Node });
  }
  out.push(...perEnvironmentBuilds(file.path, lc, envBuildJobs));
  return out;
}

const SHIP_RUN: readonly { re: RegExp; what: string }[] = [
  { re: /\bdocker\s+(?:image\s+)?push\b/, what: 'docker push' },
  { re: /\bdocker\s+buildx\s+build\b[^\n]*--push\b/, what: 'docker buildx build --push' },
  { re: /\b(?:podman|skopeo)\s+(?:push|copy)\b/, what: 'image push' },
  { re: /\bkubectl\s+apply\b/, what: 'kubectl apply' },
  { re: /\bhelm\s+(?:upgrade|install)\b/, what: 'helm upgrade' },
];
const PROVENANCE_ACTION_RE =
  /^(?:actions\/attest-build-provenance|actions\/attest|slsa-framework\/slsa-github-generator)[/@]/;
const SIGN_RUN_RE = /\bcosign\s+sign\b|\bnotation\s+sign\b/;
const ATTEST_RUN_RE = /\bcosign\s+attest\b/;

/** Tracks, step by step, whether a job ships an image or deployment and whether it signs provenance for it. */
class ShippingJob {
  private ships: { node: Node; what: string }[] = [];
  private buildkitProvenance = false;
  private signed = false;
  private attested = false;

  observe(step: YAMLMap, uses: unknown, cmds: { text: string; node: Node }[]): void {
    if (isScalar(uses) && typeof uses.value === 'string') {
      const ref = uses.value;
      if (PROVENANCE_ACTION_RE.test(ref)) this.attested = true;
      if (/^docker\/build-push-action@/.test(ref)) {
        const w = step.get('with', true);
        const opt = (k: string): string | undefined => {
          const v = isMap(w) ? w.get(k, true) : undefined;
          return isScalar(v) ? String(v.value) : undefined;
        };
        if (opt('push') === 'true') {
          this.ships.push({ node: uses as Node, what: 'docker/build-push-action with push' });
          const prov = opt('provenance');
          if (prov !== 'false' && opt('attests') !== 'false') this.buildkitProvenance = true;
        }
      }
    }
    for (const c of cmds) {
      const hit = SHIP_RUN.find((s) => s.re.test(c.text));
      if (hit) this.ships.push({ node: c.node, what: hit.what });
      if (SIGN_RUN_RE.test(c.text)) this.signed = true;
      if (ATTEST_RUN_RE.test(c.text)) this.attested = true;
    }
  }

  firstShip(): { node: Node; what: string } | undefined {
    return this.ships[0];
  }

  /** Provenance that is signed: an attestation action or `cosign attest`, or BuildKit provenance plus a signature. */
  get provenance(): boolean {
    return this.attested || (this.signed && this.buildkitProvenance);
  }
}

/** One finding per build job when two or more jobs each build for one environment. */
function perEnvironmentBuilds(
  path: string,
  lc: LineCounter,
  jobs: readonly { id: string; node: Node }[],
): Finding[] {
  if (jobs.length < 2) return [];
  const all = jobs.map((e) => e.id).join(', ');
  return jobs.map((j) =>
    finding(
      RULES.ciPerEnvBuild,
      path,
      at(lc, j.node),
      `job ${j.id} rebuilds the artifact for one environment (${all})`,
      'Keep one build job and promote its digest; deploy jobs differ only in config.',
    ),
  );
}

const GITLAB_RESERVED = new Set([
  'stages',
  'variables',
  'include',
  'default',
  'workflow',
  'image',
  'services',
  'cache',
  'before_script',
  'after_script',
]);

/** Runs the GitLab CI rules: image/service digests, npm install, per-environment builds. */
export function checkGitlabCi(file: SourceFile, ctx: CiContext = { npmLockfile: true }): Finding[] {
  const p = parse(file);
  if (!('doc' in p)) return [p];
  const { doc, lc } = p;
  const out: Finding[] = [];
  const root = doc.contents;
  if (!isMap(root)) return out;
  const images = (owner: YAMLMap, where: string): void => {
    const img = imageValue(owner.get('image', true));
    if (img) {
      const f = imageFinding(file.path, at(lc, img.node), img.ref, `${where} image`);
      if (f) out.push(f);
    }
    const services = owner.get('services', true);
    if (isSeq(services)) {
      for (const s of services.items) {
        const sv = imageValue(s);
        const f = sv && imageFinding(file.path, at(lc, sv.node), sv.ref, `${where} service`);
        if (f) out.push(f);
      }
    }
  };
  images(root, 'default');
  const dflt = root.get('default', true);
  if (isMap(dflt)) images(dflt, 'default');
  const envBuildJobs: { id: string; node: Node }[] = [];
  for (const pair of root.items) {
    const id = isScalar(pair.key) ? String(pair.key.value) : '';
    if (GITLAB_RESERVED.has(id) || id.startsWith('.') || !isMap(pair.value)) continue;
    const job = pair.value;
    images(job, `job ${id}`);
    const cmds = ['before_script', 'script'].flatMap((k) => runLines(job, k));
    out.push(...commandFindings(file.path, lc, cmds, ctx));
    if (cmds.some((c) => BUILD_CMD_RE.test(c.text)) && ENV_WORD_RE.test(id))
      envBuildJobs.push({ id, node: pair.key });
  }
  out.push(...perEnvironmentBuilds(file.path, lc, envBuildJobs));
  return out;
}

/** True when the text looks like Kubernetes (apiVersion + kind) or Compose (top-level services). */
export function looksLikeManifest(path: string, text: string): boolean {
  if (/(?:^|\/)(?:docker-)?compose(?:\.[\w-]+)?\.ya?ml$/.test(path)) return true;
  return /^apiVersion:/m.test(text) && /^kind:/m.test(text);
}

/** Runs the manifest rule over every document: each `image:` must carry a digest. */
export function checkManifest(file: SourceFile): Finding[] {
  const lc = new LineCounter();
  const docs = parseAllDocuments(file.text, { lineCounter: lc });
  const out: Finding[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const bad = yamlParseFinding(file, doc);
    if (bad) return [bad];
    visit(doc, {
      Pair(_k, pair, path) {
        const owner = path[path.length - 1];
        // In Compose, `image:` beside `build:` names the image being built, not one pulled.
        const built = isMap(owner) && owner.has('build');
        if (
          !built &&
          isPair(pair) &&
          isScalar(pair.key) &&
          pair.key.value === 'image' &&
          isScalar(pair.value) &&
          typeof pair.value.value === 'string'
        ) {
          const f = imageFinding(file.path, at(lc, pair.value), pair.value.value, 'image');
          if (f) out.push(f);
        }
      },
    });
  }
  return out;
}

/**
 * `airlock/unlocked-inputs` against the real airlock.lock: a package-lock
 * with packages it does not cover (or records differently), entries no
 * package-lock needs any more, a `files:` entry it does not record, and a
 * lock that cannot be read.
 */
function lockFindings(
  path: string,
  root: YAMLMap,
  lc: LineCounter,
  ctx: AirlockYamlContext,
  keyPos: (m: YAMLMap, key: string) => Span,
): Finding[] {
  const out: Finding[] = [];
  const where = keyPos(root, 'targets');
  let lock: Lock;
  try {
    lock = parseLock(ctx.lockText ?? '', 'airlock.lock');
  } catch (err) {
    return [
      finding(
        RULES.airlockUnlocked,
        path,
        where,
        `airlock.lock cannot be read: ${err instanceof Error ? err.message : String(err)}`,
        'Restore airlock.lock from version control or run `airlock lock` again.',
      ),
    ];
  }
  const needed: NpmLockfile[] = [];
  const targets = root.get('targets', true);
  if (isMap(targets)) {
    for (const tp of targets.items) {
      const t = tp.value;
      if (!isMap(t)) continue;
      const npm = t.get('npm', true);
      const lf = isMap(npm) ? npm.get('lockfile') : undefined;
      const lockfile = typeof lf === 'string' ? lf.replace(/^(\.\/)+/, '') : 'package-lock.json';
      if (npm === undefined || npm === null) continue;
      const text = ctx.read?.(lockfile);
      if (text === undefined) continue;
      try {
        needed.push(parseNpmLock(text, lockfile));
      } catch (err) {
        out.push(
          finding(
            RULES.airlockUnlocked,
            path,
            at(lc, (isMap(npm) ? npm : tp.key) as Node),
            err instanceof Error ? err.message : String(err),
            isAirlockError(err) && err.hint ? err.hint : 'Regenerate the package-lock.',
          ),
        );
      }
    }
  }
  const wanted: Lock = { npm: npmEntries(needed), files: lock.files, images: lock.images };
  const files = root.get('files', true);
  if (isMap(files)) {
    wanted.files = [];
    for (const fp of files.items) {
      const name = isScalar(fp.key) ? String(fp.key.value) : '';
      const f = fp.value;
      const url = isMap(f) ? f.get('url') : undefined;
      const recorded = lock.files.find((r) => r.name === name && r.url === url);
      if (recorded) wanted.files.push(recorded);
      else
        out.push(
          finding(
            RULES.airlockUnlocked,
            path,
            at(lc, fp.key as Node),
            `files entry ${name} is not recorded in airlock.lock`,
            'Run `airlock lock` and commit airlock.lock.',
          ),
        );
    }
  }
  const npmOnly = diffLocks(
    { ...lock, files: [], images: [] },
    { ...wanted, files: [], images: [] },
  );
  if (npmOnly.length > 0)
    out.push(
      finding(
        RULES.airlockUnlocked,
        path,
        where,
        `airlock.lock is out of date with the package-locks: ${npmOnly
          .slice(0, 5)
          .map(describeDifference)
          .join('; ')}${npmOnly.length > 5 ? `; and ${npmOnly.length - 5} more` : ''}`,
        'Run `airlock lock` and commit airlock.lock.',
      ),
    );
  return out;
}

/** What airlock.yaml rules need from the rest of the repository. */
export interface AirlockYamlContext {
  hasLock: boolean;
  /** The text of airlock.lock beside airlock.yaml, when read. */
  lockText?: string;
  /** The text of a file relative to airlock.yaml's directory, when it was read (package-locks). */
  read?: (path: string) => string | undefined;
}

const HOST_ENV_RE = /\$\{?[A-Za-z_]\w*\}?|\bfromHost\b/;

/**
 * Runs the airlock.yaml rules: host toolchain, toolchain digest, network,
 * host env, unlocked inputs. (No SOURCE_DATE_EPOCH rule: `airlock build`
 * always sets it, from the config, the last git commit, or a fixed default.)
 */
export function checkAirlockYaml(file: SourceFile, ctx: AirlockYamlContext): Finding[] {
  const p = parse(file);
  if (!('doc' in p)) return [p];
  const { doc, lc } = p;
  const out: Finding[] = [];
  const root = doc.contents;
  if (!isMap(root))
    return [
      finding(
        RULES.parseError,
        file.path,
        { line: 1, column: 1 },
        'airlock.yaml is not a mapping',
        'Start from `airlock init`.',
      ),
    ];
  const filesDecl = root.get('files', true);
  if (isMap(filesDecl) && filesDecl.items.length > 0) {
    for (const fp of filesDecl.items) {
      const f = fp.value;
      if (isMap(f) && !f.has('sha256') && !ctx.hasLock)
        out.push(
          finding(
            RULES.airlockUnlocked,
            file.path,
            at(lc, fp.key as Node),
            `files entry ${isScalar(fp.key) ? String(fp.key.value) : ''} has no sha256 and no airlock.lock records one`,
            'Add `sha256: "sha256:<hex>"` to the entry, or run `airlock lock` and commit airlock.lock.',
          ),
        );
    }
  }
  const netTop = root.get('network', true);
  if (isScalar(netTop) && (netTop.value as unknown) === true) {
    out.push(
      finding(
        RULES.airlockNetwork,
        file.path,
        at(lc, netTop),
        'network: true allows every target to reach the network',
        'Remove `network: true`; declare the downloads as inputs pinned by hash in airlock.lock.',
      ),
    );
  }
  const targets = root.get('targets', true);
  let external = false;
  const keyPos = (m: YAMLMap, key: string): Span => {
    const pair = m.items.find((i) => isScalar(i.key) && i.key.value === key);
    return at(lc, pair?.key as Node | undefined);
  };
  if (isMap(targets)) {
    for (const tp of targets.items) {
      const name = isScalar(tp.key) ? String(tp.key.value) : '';
      const t = tp.value;
      if (!isMap(t)) continue;
      if (t.has('npm')) external = true;
      const tc = t.get('toolchain', true);
      if (isMap(tc)) {
        if (tc.has('host')) {
          out.push(
            finding(
              RULES.airlockHostToolchain,
              file.path,
              keyPos(tc, 'host'),
              `target ${name} uses the host toolchain`,
              'Use a toolchain image pinned by digest: `toolchain: { image: "<ref>@sha256:<digest>" }`.',
            ),
          );
        }
        const img = tc.get('image', true);
        if (isScalar(img) && typeof img.value === 'string') {
          external = true;
          const f = imageFinding(
            file.path,
            at(lc, img),
            img.value,
            `target ${name} toolchain image`,
            3,
          );
          if (f) out.push(f);
        }
      }
      const net = t.get('network', true);
      if (isScalar(net) && net.value === true) {
        out.push(
          finding(
            RULES.airlockNetwork,
            file.path,
            at(lc, net),
            `target ${name} allows network access`,
            'Remove `network: true`; declare the downloads as inputs pinned by hash in airlock.lock.',
          ),
        );
      }
      const env = t.get('env', true);
      if (isMap(env)) {
        for (const e of env.items) {
          const v = e.value;
          const text = isScalar(v)
            ? String(v.value)
            : isMap(v) && v.has('fromHost')
              ? 'fromHost'
              : '';
          if (HOST_ENV_RE.test(text)) {
            const key = isScalar(e.key) ? String(e.key.value) : '';
            out.push(
              finding(
                RULES.airlockEnv,
                file.path,
                at(lc, (v ?? e.key) as Node),
                `target ${name} passes ${key} through from the host`,
                `Give ${key} a literal value in airlock.yaml, or drop it.`,
              ),
            );
          }
        }
      }
      const deps = t.get('deps', true);
      if (
        isSeq(deps) &&
        deps.items.some(
          (d) =>
            isScalar(d) &&
            typeof d.value === 'string' &&
            /^(?:npm:|https?:|oci:|git\+)/.test(d.value),
        )
      )
        external = true;
    }
  }
  if (external && ctx.hasLock && ctx.lockText !== undefined)
    out.push(...lockFindings(file.path, root, lc, ctx, keyPos));
  if (external && !ctx.hasLock) {
    out.push(
      finding(
        RULES.airlockUnlocked,
        file.path,
        keyPos(root, 'targets'),
        'targets declare external inputs but airlock.lock is missing',
        'Pin every external input by hash in airlock.lock and commit it.',
      ),
    );
  }
  return out;
}
