/**
 * One error type for the whole service, with a stable code. Domain code throws
 * these; only http/ maps a code to a status (see httpStatus below), and the CLI
 * prints `code: message` on one line. Tests assert codes, never wording.
 */
export const errorCodes = {
  CONFIG_INVALID: 500, // aptfreeze.yaml missing, unreadable or failing the schema
  BAD_REQUEST: 400, // a malformed request body, date, serial or parameter
  UNSAFE_PATH: 400, // a path with traversal, NUL or an absolute form
  UNAUTHORIZED: 401, // no token, or a token that is unknown or revoked
  FORBIDDEN: 403, // a valid token whose role may not do this
  NOT_FOUND: 404, // unknown archive, serial or file
  GONE: 410, // a serial that existed and was collected
  CONFLICT: 409, // an operation that holds a lock another one needs
  PAYLOAD_TOO_LARGE: 413,
  UPSTREAM_HTTP: 502, // upstream answered with an error status, a reset, a timeout
  UPSTREAM_UNSIGNED: 502, // no InRelease and no Release.gpg, or no signature in them
  UPSTREAM_BAD_SIGNATURE: 502, // a signature that does not match the signed text
  UPSTREAM_UNKNOWN_KEY: 502, // signed, but by no key of the archive's keyring
  UPSTREAM_KEY_EXPIRED: 502, // signed by a keyring key that has expired now (apt's EXPKEYSIG)
  UPSTREAM_EXPIRED: 502, // the upstream Release's Valid-Until has passed
  UPSTREAM_ROLLBACK: 502, // the upstream Release's Date is older than the last accepted one
  UPSTREAM_INCOMPLETE: 502, // a configured component or architecture is not in the Release
  UPSTREAM_TOO_LARGE: 502, // a body beyond its expected size or the configured cap
  HASH_MISMATCH: 502, // a file whose sha256 is not the one its signed index lists
  SIZE_MISMATCH: 502, // a file whose size is not the one its signed index lists
  MALFORMED: 502, // outside data (a Release, an index, a package) that does not parse
  PACKAGES_MISSING: 422, // a build manifest names packages its referenced serials do not hold (details.missing lists them all)
  VERIFY_FAILED: 422, // the auditor's check found a broken link
  VERIFY_UNTRUSTED: 422, // the chain holds, but the upstream signature is by no key the auditor trusts
  UPLOAD_MALFORMED: 400, // an uploaded .changes, .dsc, .buildinfo or .deb that does not parse
  UPLOAD_UNSIGNED: 403, // a .changes (or .dsc) without an OpenPGP clearsignature
  UPLOAD_BAD_SIGNATURE: 403, // a signature that does not match the signed text
  UPLOAD_UNKNOWN_KEY: 403, // signed, but by no key of the repository's uploaders keyring
  UPLOAD_KEY_EXPIRED: 403, // signed by an uploaders key that has expired or been revoked
  UPLOAD_DENIED: 403, // the uploader rules do not allow this key for this suite and source
  UPLOAD_REPLAY: 403, // a .changes signature seen before
  UPLOAD_SIGNATURE_AGE: 403, // a signature older than the configured age, or from the future
  UPLOAD_SIGNER_MISMATCH: 403, // a .dsc not signed by the key that signed its .changes
  UPLOAD_INCOMPLETE: 422, // a file the .changes lists was not uploaded
  UPLOAD_UNLISTED: 422, // a file was uploaded that the .changes does not list
  UPLOAD_HASH_MISMATCH: 422, // an uploaded file whose size or sha256 is not the one its .changes (or .buildinfo) lists
  UPLOAD_CONTROL_MISMATCH: 422, // a .deb whose control fields disagree with the .changes
  UPLOAD_BAD_SUITE: 422, // a Distribution that is not a suite of the repository, or an architecture or component it does not carry
  DOWNGRADE: 409, // a suite merge that would lower a package's version (allowed only when forced)
  DISK_FULL: 507, // the data directory's filesystem is full (ENOSPC, EDQUOT)
  STORE_UNAVAILABLE: 503, // the object store (S3) is unreachable, refuses the credentials or answers with an error
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class AptfreezeError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AptfreezeError';
    this.code = code;
    this.details = options.details;
  }
}

export function httpStatus(code: ErrorCode): number {
  return errorCodes[code];
}

export function isAptfreezeError(e: unknown): e is AptfreezeError {
  return e instanceof AptfreezeError;
}

/** Wraps any thrown value so callers always see a code. */
export function asAptfreezeError(e: unknown): AptfreezeError {
  if (e instanceof AptfreezeError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') return new AptfreezeError('DISK_FULL', message, { cause: e });
  return new AptfreezeError('INTERNAL', message, { cause: e });
}
