/**
 * Domain errors. They say what went wrong in the terms of the domain; the HTTP layer alone decides
 * which status code each kind becomes.
 */
export type DomainErrorKind = 'not_found' | 'conflict' | 'invalid_timestamp' | 'too_large' | 'invalid' | 'unavailable';

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (message: string) => new DomainError('not_found', message);
export const conflict = (message: string) => new DomainError('conflict', message);
export const tooLarge = (message: string) => new DomainError('too_large', message);
export const unavailable = (message: string) => new DomainError('unavailable', message);
