/** HTTP errors with the contract's bodies: `{"detail": "..."}` or, for 422, a list of issues. */
import type { z } from 'zod';
import type { DomainErrorKind } from '../shared/errors.js';
import { holderOf } from './json-guard.js';

export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly detail: string | ValidationIssue[],
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === 'string' ? detail : 'Validation failed');
    this.name = 'HttpError';
  }
}

export const STATUS_OF: Record<DomainErrorKind, number> = {
  not_found: 404,
  conflict: 409,
  invalid_timestamp: 400,
  too_large: 413,
  invalid: 422,
  unavailable: 503,
};

export const RETRY_AFTER_SECONDS = '1';

export const validationError = (issues: ValidationIssue[]) => new HttpError(422, issues);
export const bodyIssue = (msg: string, type: string) => validationError([{ loc: ['body'], msg, type }]);

/** zod issues in the shape FastAPI (pydantic v2) writes them. */
export function toValidationIssues(
  where: 'body' | 'query',
  error: z.core.$ZodError,
  input: unknown,
): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const visit = (issues: z.core.$ZodIssue[], prefix: PropertyKey[]) => {
    for (const issue of issues) {
      const path = [...prefix, ...issue.path];
      if (issue.code === 'invalid_union' && issue.errors.length > 0) {
        // Report the first alternative only (the others are "or null" and the like).
        visit(issue.errors[0]!, path);
        continue;
      }
      const loc = [where, ...path.map((p) => (typeof p === 'number' ? p : String(p)))];
      out.push({ loc, ...describe(issue, valueAt(input, path)) });
    }
  };
  visit(error.issues, []);
  return out;
}

const valueAt = (input: unknown, path: PropertyKey[]): unknown =>
  path.length === 0 ? input : holderOf(input, path)?.[path[path.length - 1]!];

function describe(issue: z.core.$ZodIssue, value: unknown): { msg: string; type: string } {
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return { msg: 'Field required', type: 'missing' };
      switch (issue.expected) {
        case 'string':
          return { msg: 'Input should be a valid string', type: 'string_type' };
        case 'number':
          return { msg: 'Input should be a valid number', type: 'float_type' };
        case 'array':
          return { msg: 'Input should be a valid list', type: 'list_type' };
        case 'object':
          return { msg: 'Input should be a valid dictionary or object', type: 'model_type' };
        default:
          return { msg: `Input should be a valid ${issue.expected}`, type: `${issue.expected}_type` };
      }
    case 'too_small':
      return {
        msg: issue.message,
        type:
          issue.origin === 'array'
            ? 'too_short'
            : issue.origin === 'string'
              ? 'string_too_short'
              : 'greater_than_equal',
      };
    case 'too_big':
      return {
        msg: issue.message,
        type: issue.origin === 'array' ? 'too_long' : issue.origin === 'string' ? 'string_too_long' : 'less_than_equal',
      };
    case 'invalid_value':
      return { msg: `Input should be ${issue.values.map((v) => `'${String(v)}'`).join(' or ')}`, type: 'enum' };
    case 'custom':
      return { msg: issue.message, type: (issue.params?.type as string | undefined) ?? 'value_error' };
    default:
      return { msg: issue.message, type: 'value_error' };
  }
}
