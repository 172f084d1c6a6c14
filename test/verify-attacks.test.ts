// Semantic attacks on `airlock verify` and a mutation fuzz over the evidence: each rejected with a reason.
import { sign as cryptoSign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/core/canonical.js';
import { evaluatePolicy, type Verdict } from '../src/policy/index.js';
import { verifyAttachments } from '../src/pipeline/verify.js';
import type { ProvenancePredicate, Statement } from '../src/attest/index.js';
import {
  ARTIFACT,
  FUZZ_TARGETS,
  OTHER_ARTIFACT,
  attach,
  keys,
  mutatedCase,
  policy,
  prng,
  statements,
  wrap,
  type Attachment,
} from './helpers/evidence.js';

const NOW = 1_800_000_000_000;
const trusted = [keys.trusted];

function verdictOf(attachments: Attachment[], subject = ARTIFACT): Verdict {
  const { verified, failed } = verifyAttachments(subject, attachments, trusted);
  return evaluatePolicy(policy(), subject, verified, failed, NOW);
}

const failing = (v: Verdict): string[] =>
  v.rules.filter((r) => !r.pass).map((r) => `${r.rule}: ${r.reason}`);

type Editable = Omit<Statement<ProvenancePredicate>, '_type'> & { _type: string };

/** The four good statements, with the provenance replaced by `edit(provenance)`. */
async function withProvenance(edit: (p: Editable) => unknown): Promise<Attachment[]> {
  const [prov, ...rest] = statements();
  const copy = JSON.parse(JSON.stringify(prov)) as Editable;
  const edited = (edit(copy) ?? copy) as Statement;
  return Promise.all([attach(edited, keys.trusted), ...rest.map((s) => attach(s, keys.trusted))]);
}

describe('verify', () => {
  it('passes the untouched evidence (so every rejection below is the attack)', async () => {
    const v = verdictOf(await Promise.all(statements().map((s) => attach(s, keys.trusted))));
    expect(failing(v)).toEqual([]);
    expect(v.pass).toBe(true);
    expect(v.digest).toBe(ARTIFACT);
  });

  describe.each([
    ['a prefix', `x${'https://builder.example/b1'}`],
    ['a suffix', 'https://builder.example/b1x'],
    ['an infix', 'https://builder.example/b/1'],
    ['an untrusted builder', 'https://evil.example/b1'],
  ])('with a builder id with %s', (_what, id) => {
    it('rejects on the builder rule', async () => {
      const v = verdictOf(
        await withProvenance((p) => void (p.predicate.runDetails.builder.id = id)),
      );
      expect(v.pass).toBe(false);
      expect(failing(v).join('\n')).toMatch(/^builder .*is not https:\/\/builder\.example\/b1$/m);
    });
  });

  it('rejects a wrong predicate type: the required provenance is missing', async () => {
    const v = verdictOf(
      await withProvenance((p) => void (p.predicateType = 'https://slsa.dev/provenance/v0.2')),
    );
    expect(failing(v).join('\n')).toMatch(
      /require https:\/\/slsa\.dev\/provenance\/v1: no verified statement/,
    );
  });

  it('rejects a subject digest mismatch', async () => {
    const v = verdictOf(
      await withProvenance(
        (p) =>
          void (p.subject = [{ name: 'demo/web', digest: { sha256: OTHER_ARTIFACT.slice(7) } }]),
      ),
    );
    expect(failing(v).join('\n')).toMatch(/^subject .* is not sha256:/m);
  });

  it('rejects two subjects of which one mismatches', async () => {
    const v = verdictOf(
      await withProvenance((p) => {
        p.subject.push({ name: 'other', digest: { sha256: OTHER_ARTIFACT.slice(7) } });
      }),
    );
    expect(failing(v).join('\n')).toMatch(/subject other .* is not sha256:/);
  });

  it('rejects a DSSE signature made over the raw payload instead of the PAE', async () => {
    const [prov, ...rest] = statements();
    const good = await attach(prov!, keys.trusted);
    const b = JSON.parse(good.bundle!.toString()) as {
      dsseEnvelope: { signatures: { sig: string }[] };
    };
    b.dsseEnvelope.signatures[0]!.sig = cryptoSign(
      'sha256',
      Buffer.from(canonicalJson(prov)),
      keys.trusted.privateKey,
    ).toString('base64');
    const v = verdictOf([
      wrap(Buffer.from(canonicalJson(b)), ARTIFACT, 'x'),
      ...(await Promise.all(rest.map((s) => attach(s, keys.trusted)))),
    ]);
    expect(failing(v).join('\n')).toMatch(/SIGNATURE_INVALID/);
  });

  it('rejects an unknown external parameter', async () => {
    const v = verdictOf(
      await withProvenance(
        (p) => void (p.predicate.buildDefinition.externalParameters.extraFlags = '--no-sandbox'),
      ),
    );
    expect(failing(v).join('\n')).toMatch(/unknown external parameters: extraFlags/);
  });

  it('rejects a bundle signed by a key not in the policy', async () => {
    const [prov, ...rest] = statements();
    const v = verdictOf([
      await attach(prov!, keys.untrusted),
      ...(await Promise.all(rest.map((s) => attach(s, keys.trusted)))),
    ]);
    expect(failing(v).join('\n')).toMatch(/BUNDLE_UNTRUSTED/);
  });

  it('rejects an attestation for a different artifact attached to this one', async () => {
    const other = statements(OTHER_ARTIFACT);
    const mine = await Promise.all(statements().map((s) => attach(s, keys.trusted)));
    // Listed under this artifact, but the attachment's subject is the other one …
    const v1 = verdictOf([...mine, await attach(other[0]!, keys.trusted, OTHER_ARTIFACT)]);
    expect(failing(v1).join('\n')).toMatch(/ATTACHMENT_MISMATCH/);
    // … or the attachment names this artifact but the statement is about the other.
    const v2 = verdictOf([...mine, await attach(other[0]!, keys.trusted, ARTIFACT)]);
    expect(failing(v2).join('\n')).toMatch(/^subject .* is not sha256:/m);
  });

  it('rejects a v0.1 bundle media type with v0.3 content', async () => {
    const [prov, ...rest] = statements();
    const good = await attach(prov!, keys.trusted);
    const b = JSON.parse(good.bundle!.toString()) as Record<string, unknown>;
    b.mediaType = 'application/vnd.dev.sigstore.bundle+json;version=0.1';
    const v = verdictOf([
      wrap(Buffer.from(canonicalJson(b)), ARTIFACT, 'x'),
      ...(await Promise.all(rest.map((s) => attach(s, keys.trusted)))),
    ]);
    expect(failing(v).join('\n')).toMatch(/BUNDLE_INVALID: the bundle's media type/);
  });

  it('rejects two signatures of which one is bad', async () => {
    const [prov, ...rest] = statements();
    const good = await attach(prov!, keys.trusted);
    const b = JSON.parse(good.bundle!.toString()) as {
      dsseEnvelope: { signatures: { sig: string; keyid: string }[] };
    };
    b.dsseEnvelope.signatures.push({ sig: Buffer.alloc(72, 7).toString('base64'), keyid: '' });
    const v = verdictOf([
      wrap(Buffer.from(canonicalJson(b)), ARTIFACT, 'x'),
      ...(await Promise.all(rest.map((s) => attach(s, keys.trusted)))),
    ]);
    expect(failing(v).join('\n')).toMatch(/BUNDLE_INVALID/);
  });

  it('rejects a statement whose _type is not v1', async () => {
    const v = verdictOf(
      await withProvenance((p) => void (p._type = 'https://in-toto.io/Statement/v0.1')),
    );
    expect(failing(v).join('\n')).toMatch(/STATEMENT_INVALID: the statement's _type/);
  });

  it('rejects evidence older than maxAge and a provenance whose level is too low', async () => {
    const v = evaluatePolicy(
      policy(),
      ARTIFACT,
      verifyAttachments(
        ARTIFACT,
        await Promise.all(statements().map((s) => attach(s, keys.trusted))),
        trusted,
      ).verified,
      [],
      NOW + 31 * 86_400_000,
    );
    expect(failing(v).join('\n')).toMatch(/^maxAge /m);
    const low = verdictOf(
      await withProvenance((p) => {
        const h = p.predicate.runDetails.byproducts.find((b) => b.name === 'hermeticity')!;
        h.annotations!.level = 3;
      }),
    );
    expect(failing(low).join('\n')).toMatch(
      /minLevel: the evidence shows level 3; the policy asks for 4/,
    );
  });

  it('rejects a denied package in the SBOM', async () => {
    const v = evaluatePolicy(
      policy(
        `${(await import('./helpers/evidence.js')).POLICY_YAML.replace('event-stream@*', 'left-pad@1.*')}`,
      ),
      ARTIFACT,
      verifyAttachments(
        ARTIFACT,
        await Promise.all(statements().map((s) => attach(s, keys.trusted))),
        trusted,
      ).verified,
      [],
      NOW,
    );
    expect(failing(v).join('\n')).toMatch(/deny: denied: pkg:npm\/left-pad@1\.3\.0/);
  });

  it('fails closed with no evidence at all', () => {
    const v = verdictOf([]);
    expect(v.pass).toBe(false);
    expect(failing(v).join('\n')).toMatch(/^signature: no statement/m);
  });
});

describe('mutation fuzz over artifact, DSSE payload, signature, bundle JSON and manifest', () => {
  it('accepts none of 400 mutated cases and rejects each with a typed code', async () => {
    const [prov, ...rest] = statements();
    const valid = await attach(prov!, keys.trusted);
    const others = await Promise.all(rest.map((s) => attach(s, keys.trusted)));
    const rnd = prng(20261129);
    let accepted = 0;
    const untyped: string[] = [];
    for (let i = 0; i < 400; i++) {
      const target = FUZZ_TARGETS[i % FUZZ_TARGETS.length]!;
      const { subject, attachment } = mutatedCase(valid, target, rnd);
      const { verified, failed } = verifyAttachments(subject, [attachment, ...others], trusted);
      const v = evaluatePolicy(policy(), subject, verified, failed, NOW);
      if (v.pass) accepted++;
      for (const f of failed)
        if (!/^[A-Z_]+$/.test(f.code) || f.code === 'UNEXPECTED')
          untyped.push(`${target}: ${f.reason}`);
    }
    expect(accepted).toBe(0);
    expect(untyped).toEqual([]);
  });
});
