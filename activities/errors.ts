/**
 * Errors the domain code throws. They carry no Temporal types: the activity wrappers decide what is
 * retryable (BadInputError is not; anything else is).
 */

/** The input cannot succeed however often it is retried: a missing bucket, a wrong path, a bad spec. */
export class BadInputError extends Error {
  override readonly name = 'BadInputError';
}

/** An object already exists where we were asked to create one, and we never overwrite. */
export class AlreadyExistsError extends Error {
  override readonly name = 'AlreadyExistsError';
  constructor(readonly uri: string) {
    super(`${uri} already exists and is never overwritten`);
  }
}
