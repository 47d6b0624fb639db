// Calling the hub: POST /graphql with the session's token and X-C360-Purpose: SERVICE.
// GraphQL errors come back in the result (partial answers are normal); transport failures throw.
import * as session from './session';

export interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; source?: string; field?: string; [k: string]: unknown };
}

export interface GqlResult<T> {
  data: T | null;
  errors: GqlError[];
}

export class SessionExpired extends Error {
  constructor(message = 'session expired') {
    super(message);
    this.name = 'SessionExpired';
  }
}

export class HubError extends Error {
  status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'HubError';
    this.status = status;
  }
}

export const PURPOSE = 'SERVICE';

export function headers(): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
    'X-C360-Purpose': PURPOSE,
  };
  const tok = session.token();
  if (tok) h.authorization = `Bearer ${tok}`;
  return h;
}

export async function gql<T>(query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>> {
  let res: Response;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify(variables ? { query, variables } : { query }),
      credentials: 'omit',
    });
  } catch (e) {
    throw new HubError(0, e instanceof Error ? e.message : String(e));
  }
  if (res.status === 401) {
    session.expired();
    throw new SessionExpired();
  }
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    let body: { data?: T | null; errors?: GqlError[] } | null = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    // GraphQL over HTTP: a request error (validation, bad variables) may come as 4xx with a body
    if (body && typeof body === 'object' && ('data' in body || 'errors' in body)) {
      const errors = Array.isArray(body.errors) ? body.errors : [];
      if (errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) {
        session.expired();
        throw new SessionExpired();
      }
      return { data: body.data ?? null, errors };
    }
  }
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* ignore */
  }
  throw new HubError(res.status, text.slice(0, 300) || res.statusText || `HTTP ${res.status}`);
}

function samePath(a: (string | number)[], b: (string | number)[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The error whose path is exactly `path`. */
export function errorAt(errors: GqlError[], path: (string | number)[]): GqlError | undefined {
  return errors.find((e) => e.path && samePath(e.path, path));
}

/** Every error at `prefix` or below it. */
export function errorsUnder(errors: GqlError[], prefix: (string | number)[]): GqlError[] {
  return errors.filter(
    (e) => e.path && e.path.length >= prefix.length && prefix.every((x, i) => e.path![i] === x),
  );
}

export function isForbidden(e?: GqlError): boolean {
  return e?.extensions?.code === 'FORBIDDEN';
}
