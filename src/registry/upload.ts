import { DigestHasher, type Digest } from '../core/digest.js';
import { isAirlockError } from '../core/errors.js';
import { registryError } from './errors.js';
import { isTransientNetworkError } from './retry.js';
import { pullScope, pushScope, type RegistryTransport } from './transport.js';

/** Bytes of a blob that can be read again from any offset (so uploads can resume). */
export interface BlobSource {
  digest: Digest;
  size: number;
  open(offset: number): AsyncIterable<Uint8Array>;
}

/** A blob iterator limited to `n` bytes. */
async function* take(src: AsyncIterable<Uint8Array>, n: number): AsyncIterable<Uint8Array> {
  let left = n;
  if (left <= 0) return;
  for await (const chunk of src) {
    if (chunk.byteLength >= left) {
      yield chunk.subarray(0, left);
      return;
    }
    left -= chunk.byteLength;
    yield chunk;
  }
}

/**
 * The blob upload state machine of the distribution spec: mount from another
 * repository, or open a session (POST), send PATCH chunks, after a fault ask
 * the session where it stands (GET, `Range`) and resume there or restart,
 * then commit (PUT ?digest=) only bytes that hash to the digest, and check
 * the digest the registry reports.
 */
export async function uploadBlob(
  http: RegistryTransport,
  repo: string,
  digest: Digest,
  src: BlobSource,
  opts: { mountFrom?: string | undefined; chunkSize?: number | undefined } = {},
): Promise<'mounted' | 'uploaded'> {
  const reference = `${http.registry}/${repo}@${digest}`;
  let res: Response;
  if (opts.mountFrom !== undefined && opts.mountFrom !== repo) {
    res = await http.request({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${encodeURIComponent(opts.mountFrom)}`,
      scope: `${pushScope(repo)} ${pullScope(opts.mountFrom)}`,
      headers: { 'content-length': '0' },
      ok: [201, 202],
      reference,
    });
    await res.body?.cancel();
    if (res.status === 201) {
      http.checkDigestHeader(res, digest, reference);
      http.stats.blobsMounted++;
      return 'mounted';
    }
  } else {
    res = await http.request({
      method: 'POST',
      url: `/v2/${repo}/blobs/uploads/`,
      scope: pushScope(repo),
      headers: { 'content-length': '0' },
      ok: [202],
      reference,
    });
    await res.body?.cancel();
  }
  let location = uploadLocation(http, res, reference);
  const scope = pushScope(repo);
  let offset = 0;
  let faults = 0;
  // Hash of the bytes sent, while they were sent contiguously from byte 0.
  let track: SentTracker = { hasher: new DigestHasher(), hashedTo: 0 };
  const chunkSize = opts.chunkSize ?? src.size;
  while (offset < src.size) {
    const end = Math.min(src.size, offset + Math.max(1, chunkSize));
    const start = offset;
    try {
      res = await http.request({
        method: 'PATCH',
        url: location,
        scope,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${start}-${end - 1}`,
          'content-length': String(end - start),
        },
        body: () => counted(http, take(src.open(start), end - start), track, start),
        ok: [202],
        reference,
        retry: false,
        rawBody: true,
      });
      await res.body?.cancel();
      location = uploadLocation(http, res, reference);
      offset = end;
      http.events({
        type: 'progress',
        phase: 'push',
        done: offset,
        total: src.size,
        bytes: offset,
      });
    } catch (err) {
      const transient =
        isTransientNetworkError(err) || (err instanceof Error && isTransientStatus(err));
      if (!transient || faults >= http.retries) {
        throw registryError(
          'UPLOAD_FAILED',
          `${reference}: upload failed at byte ${start} of ${src.size}`,
          'Retry the push; blobs already uploaded are not sent again.',
          { reference, offset: start, size: src.size },
          err,
        );
      }
      await http.backoff(
        { method: 'PATCH', url: '', scope: '', ok: [], reference },
        faults++,
        undefined,
        `upload interrupted at byte ${start}`,
      );
      // Ask where the session stands; a registry that invalidated it
      // (distribution 2.8 does after a partial PATCH) gets a fresh session,
      // and so does one whose stored length cannot be known (`Range: 0-0`).
      let restart = false;
      try {
        const status = await http.request({
          method: 'GET',
          url: location,
          scope,
          ok: [204],
          reference,
        });
        await status.body?.cancel();
        const stored = parseUploadRange(status.headers.get('range'));
        if (stored === undefined) restart = true;
        else {
          location = uploadLocation(http, status, reference);
          offset = stored;
          if (offset === 0) track = { hasher: new DigestHasher(), hashedTo: 0 };
          else if (offset !== track.hashedTo) track = { hasher: undefined, hashedTo: 0 };
        }
      } catch (statusErr) {
        if (!isAirlockError(statusErr)) throw statusErr;
        restart = true;
      }
      if (restart) {
        const fresh = await http.request({
          method: 'POST',
          url: `/v2/${repo}/blobs/uploads/`,
          scope,
          headers: { 'content-length': '0' },
          ok: [202],
          reference,
        });
        await fresh.body?.cancel();
        location = uploadLocation(http, fresh, reference);
        offset = 0;
        track = { hasher: new DigestHasher(), hashedTo: 0 };
        http.events({
          type: 'log',
          level: 'debug',
          message: `${reference}: upload session lost; restarting from byte 0`,
        });
      }
    }
  }
  // Never commit bytes that do not hash to the digest (the source may be an
  // unverified file). After a resume the bytes sent were not all hashed in
  // order, so the whole source is hashed again before committing.
  let hasher = track.hasher;
  if (hasher === undefined || track.hashedTo !== src.size) {
    hasher = new DigestHasher();
    for await (const chunk of src.open(0)) hasher.update(chunk);
  }
  const sent = hasher.digest();
  if (sent !== digest || hasher.size !== src.size) {
    try {
      const del = await http.request({
        method: 'DELETE',
        url: location,
        scope,
        ok: [204, 404],
        reference,
        retry: false,
      });
      await del.body?.cancel();
    } catch {
      // Best effort: an abandoned session expires on the registry by itself.
    }
    http.fail(
      'INTEGRITY_MISMATCH',
      reference,
      `the local content (${hasher.size} bytes) hashes to ${sent}, not to its digest`,
      'The local copy is corrupt; run `airlock store fsck --repair` and rebuild or pull it again.',
      { expected: digest, actual: sent },
    );
  }
  const put = http.resolve(location);
  put.searchParams.set('digest', digest);
  res = await http.request({
    method: 'PUT',
    url: put.toString(),
    scope,
    headers: { 'content-length': '0' },
    ok: [201],
    reference,
  });
  await res.body?.cancel();
  http.checkDigestHeader(res, digest, reference);
  http.stats.blobsUploaded++;
  return 'uploaded';
}

/** Wraps an upload body so that every byte sent is counted. */
async function* counted(
  http: RegistryTransport,
  src: AsyncIterable<Uint8Array>,
  track: SentTracker,
  start: number,
): AsyncIterable<Uint8Array> {
  let at = start;
  for await (const chunk of src) {
    http.stats.uploadedBytes += chunk.byteLength;
    if (track.hasher !== undefined && track.hashedTo === at) {
      track.hasher.update(chunk);
      track.hashedTo += chunk.byteLength;
    }
    at += chunk.byteLength;
    yield chunk;
  }
}

/** The upload session URL a response names; refused when it is on another host. */
function uploadLocation(http: RegistryTransport, res: Response, reference: string): string {
  const loc = res.headers.get('location');
  if (!loc)
    http.fail(
      'REGISTRY_ERROR',
      reference,
      'upload response has no Location header',
      'The registry does not follow the distribution spec.',
    );
  const url = http.resolve(loc);
  if (url.origin !== http.origin) {
    http.fail(
      'REGISTRY_ERROR',
      reference,
      `upload location ${url.origin} is on another host`,
      'Refusing to send data and credentials to another host.',
    );
  }
  return url.toString();
}

interface SentTracker {
  hasher: DigestHasher | undefined;
  hashedTo: number;
}

/** True for a 429/5xx registry error (a PATCH worth resuming). */
function isTransientStatus(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  return (
    code === 'REGISTRY_UNREACHABLE' ||
    code === 'REGISTRY_RATE_LIMITED' ||
    (code === 'REGISTRY_ERROR' &&
      Number((err as { details?: { status?: unknown } }).details?.status) >= 500)
  );
}

/**
 * The next offset from an upload-status `Range: 0-<last>` header: 0 when no
 * range is reported, undefined for `0-0`, which distribution sends both for
 * an empty session and for one stored byte (resuming at 1 would drop byte 0).
 */
function parseUploadRange(header: string | null): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header?.trim() ?? '');
  if (!m) return 0;
  const last = Number(m[1]);
  return last === 0 ? undefined : last + 1;
}
