// The portal's session cookie, CSRF tokens and the sealed pending password change.
//
// - The session is the API's (api/sessions.ts): the same opaque token, kept in an HttpOnly,
//   SameSite=Lax cookie instead of an Authorization header; Secure whenever the request came over
//   HTTPS, also through a proxy that says so (X-Forwarded-Proto) — trusting that header can only
//   make the cookie stricter.
// - CSRF: every form carries `_csrf`. Logged in, it is an HMAC of the session token (nothing to
//   store, the same on every server); on the login form, a random cookie repeated in the form
//   (double submit), as there is no session yet.
// - The password change's 確認 step must carry the passwords to 完了 without putting them in the
//   page: they travel AES-256-GCM-sealed under a key derived from the session token, for 10 minutes.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv, RouteDeps } from '../env.ts';
import { inContractLane } from '../auth.ts';
import { resolveSession } from '../sessions.ts';

export const SESSION_COOKIE = 'ledger_session';
export const LOGIN_CSRF_COOKIE = 'ledger_login_csrf';
export const CSRF_FIELD = '_csrf';

export function isHttps(c: Context): boolean {
  const forwarded = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  return forwarded === 'https' || new URL(c.req.url).protocol === 'https:';
}

function cookieOptions(c: Context) {
  return { path: '/', httpOnly: true, sameSite: 'Lax', secure: isHttps(c) } as const;
}

export function setSessionCookie(c: Context, token: string): void {
  setCookie(c, SESSION_COOKIE, token, cookieOptions(c));
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
}

export function sessionTokenOf(c: Context): string | undefined {
  const token = getCookie(c, SESSION_COOKIE);
  return token && /^[A-Za-z0-9_-]{20,200}$/.test(token) ? token : undefined;
}

/** Pages behind the login: the session of the cookie, or a redirect to ログイン. */
export function requirePortalSession(deps: RouteDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = sessionTokenOf(c);
    const session = token ? await resolveSession(deps.db, token, deps.clock(), deps.sessionPolicy) : undefined;
    if (!token || !session) {
      if (token) clearSessionCookie(c);
      return c.redirect(token ? '/login?reason=expired' : '/login', 303);
    }
    c.set('session', session);
    c.set('sessionToken', token);
    await inContractLane(deps, session.contractCode, c, next);
  };
}

function hmac(key: string, label: string): Buffer {
  return createHmac('sha256', key).update(label, 'utf8').digest();
}

/** The CSRF token of a session's forms. */
export function csrfTokenOf(sessionToken: string): string {
  return hmac(sessionToken, 'ledger-portal-csrf').toString('base64url');
}

/** The login form's token: the cookie's, set now when there is none. */
export function loginCsrfToken(c: Context): string {
  const existing = getCookie(c, LOGIN_CSRF_COOKIE);
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
  const token = randomBytes(32).toString('base64url');
  setCookie(c, LOGIN_CSRF_COOKIE, token, cookieOptions(c));
  return token;
}

export function sameToken(given: unknown, expected: string | undefined): boolean {
  if (typeof given !== 'string' || !expected) return false;
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The form fields of a POST (application/x-www-form-urlencoded), strings only. */
export async function formOf(c: Context): Promise<Record<string, string>> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) return {};
  const body = await c.req.parseBody();
  return Object.fromEntries(Object.entries(body).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

// ---- the sealed password change -------------------------------------------------------------

const SEAL_TTL_MS = 10 * 60_000;

export interface PendingPasswordChange {
  readonly currentPassword: string;
  readonly newPassword: string;
  readonly newPasswordConfirmation: string;
}

export function sealPasswordChange(sessionToken: string, change: PendingPasswordChange, now: Date): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', hmac(sessionToken, 'ledger-portal-password-change'), iv);
  const plain = Buffer.from(JSON.stringify({ ...change, at: now.getTime() }), 'utf8');
  const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url');
}

/** The change sealed for this session within the last 10 minutes; undefined otherwise. */
export function unsealPasswordChange(sessionToken: string, text: string | undefined, now: Date): PendingPasswordChange | undefined {
  if (!text || text.length > 4096) return undefined;
  try {
    const raw = Buffer.from(text, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', hmac(sessionToken, 'ledger-portal-password-change'), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    const plain = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    const v = JSON.parse(plain) as Record<string, unknown>;
    if (typeof v.at !== 'number' || now.getTime() - v.at > SEAL_TTL_MS || v.at > now.getTime() + 60_000) return undefined;
    if (typeof v.currentPassword !== 'string' || typeof v.newPassword !== 'string' || typeof v.newPasswordConfirmation !== 'string') return undefined;
    return { currentPassword: v.currentPassword, newPassword: v.newPassword, newPasswordConfirmation: v.newPasswordConfirmation };
  } catch {
    return undefined;
  }
}
