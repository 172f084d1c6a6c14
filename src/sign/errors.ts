/** What the sign module throws: bad key files, wrong passwords, unusable key types. */
export type SignErrorCode =
  'KEY_INVALID' | 'KEY_PASSWORD' | 'KEY_UNSUPPORTED' | 'KEY_EXISTS' | 'SIGNATURE_INVALID';
