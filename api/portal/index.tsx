// The self-page (セルフページ): server-rendered Japanese pages over the same application functions as
// the JSON API — login and lockout, sessions, password change, queries, export jobs — mounted at `/`
// beside it. No script: every page works with a keyboard and without JavaScript.
//
// Middleware is attached per route, never with `use('*')`: this module is mounted at `/`, and a
// wildcard would also run in front of the JSON API.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { CATEGORIES, type Category } from '../../domain/events.ts';
import { isExportBlackoutDay, japanDateAt, type Month } from '../../domain/time.ts';
import type { AppEnv, RouteDeps } from '../env.ts';
import { ApiError } from '../errors.ts';
import { latestExports, latestExportsOf, findExport, type ExportJob } from '../exports.ts';
import { dateTimeJa } from '../format.ts';
import { deleteSession, resolveSession } from '../sessions.ts';
import { portalMonths, requirePortalMonth } from '../window.ts';
import { logIn, SelfIdLocked } from '../routes/session.ts';
import { applyPasswordChange, checkPasswordChange, type PasswordChangeCheck } from '../routes/password.ts';
import { handlerPlaceBack } from '../auth.ts';
import { isNumberOfContract } from '../routes/charges.ts';
import { createExportJob, openExportFile } from '../routes/exports.ts';
import { pageRenderer } from './layout.tsx';
import { DEFAULT_SUPPORT_DESK } from './support.tsx';
import { databaseTrouble, describe } from '../../eventstore/connection.ts';
import { CURRENT_PASSWORD_LAST_TRY, errorPageOf, LOGIN_BUSY, LOGIN_LAST_TRY, LOGIN_WRONG, loginLocked, PASSWORD_CHECK_BUSY, PASSWORD_PROBLEMS, passwordLocked } from './messages.ts';
import { PasswordCheckRefused } from '../password-checks.ts';
import {
  CallsChooserPage,
  CallsPage,
  ChargesPage,
  ContractNumbersPage,
  ContractPage,
  contractPaths,
  DownloadsPage,
  ErrorPage,
  ExportAcceptedPage,
  ExportConfirmPage,
  ExportStatusPage,
  FreecallNumbersPage,
  LoginPage,
  MenuPage,
  NumbersPage,
  PasswordConfirmPage,
  PasswordDonePage,
  PasswordStartPage,
  paths,
  TelegramsPage,
  type FieldProblems,
  type MonthRow,
} from './pages.tsx';
import {
  CSRF_FIELD,
  clearSessionCookie,
  csrfTokenOf,
  formOf,
  LOGIN_CSRF_COOKIE,
  loginCsrfToken,
  requirePortalSession,
  sameToken,
  sealPasswordChange,
  sessionTokenOf,
  setSessionCookie,
  unsealPasswordChange,
} from './security.ts';
import { PORTAL_CSS } from './styles.ts';

const FORM_BODY_LIMIT = 16 * 1024;
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const PHONE = /^\d{1,13}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Ctx = Context<AppEnv>;

function menuOf(c: Ctx) {
  return { csrf: csrfTokenOf(c.get('sessionToken')), contractCode: c.get('session').contractCode };
}

/** A login refused for want of a turn is answered on the login page; anything else goes on up. */
function busy(e: unknown): PasswordCheckRefused {
  if (e instanceof PasswordCheckRefused) return e;
  throw e;
}

/** The page answering a refused check carries its Retry-After, as the JSON answer does. */
function refusedBy(c: Ctx, refused: PasswordCheckRefused): Ctx {
  for (const [name, value] of Object.entries(refused.headers ?? {})) c.header(name, value);
  return c;
}

function notFound(): never {
  throw new ApiError(404, 'NOT_FOUND', 'not found');
}

export function portalRoutes(deps: RouteDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const session = requirePortalSession(deps);
  const limit = bodyLimit({
    maxSize: FORM_BODY_LIMIT,
    onError: () => {
      throw new ApiError(413, 'PAYLOAD_TOO_LARGE', 'form too large');
    },
  });
  const now = () => deps.clock();
  const render = pageRenderer(deps.support ?? DEFAULT_SUPPORT_DESK);

  /** Every form of a logged-in page: its `_csrf` must be the session's token. */
  const csrf: MiddlewareHandler<AppEnv> = async (c, next) => {
    const form = await formOf(c);
    if (!sameToken(form[CSRF_FIELD], csrfTokenOf(c.get('sessionToken')))) throw new ApiError(403, 'CSRF', 'missing or wrong CSRF token');
    await next();
  };

  const inWindow = (c: Ctx): Month => {
    const month = c.req.param('month') ?? '';
    if (!MONTH.test(month)) notFound();
    requirePortalMonth(month, now());
    return month;
  };

  app.get('/portal.css', (c) => {
    c.header('Cache-Control', 'public, max-age=3600');
    return c.body(PORTAL_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' });
  });

  // ---- ログイン / ログアウト -----------------------------------------------------------------

  app.get('/', async (c) => {
    const token = sessionTokenOf(c);
    const live = token ? await resolveSession(deps.db, token, now(), deps.sessionPolicy) : undefined;
    return c.redirect(live ? '/menu' : '/login', 303);
  });

  app.get('/login', async (c) => {
    const token = sessionTokenOf(c);
    if (token && (await resolveSession(deps.db, token, now(), deps.sessionPolicy))) return c.redirect('/menu', 303);
    const reason = c.req.query('reason');
    const notice =
      reason === 'logout' ? 'ログアウトしました。' : reason === 'expired' ? '一定時間操作がなかったため、ログアウトしました。もう一度ログインしてください。' : undefined;
    return render(c, <LoginPage csrf={loginCsrfToken(c)} {...(notice ? { notice } : {})} />);
  });

  app.post('/login', limit, async (c) => {
    const form = await formOf(c);
    if (!sameToken(form[CSRF_FIELD], getCookie(c, LOGIN_CSRF_COOKIE))) throw new ApiError(403, 'CSRF', 'missing or wrong CSRF token');
    const selfId = (form.selfId ?? '').trim().slice(0, 64);
    const password = (form.password ?? '').slice(0, 128);
    const at = now();
    const result = selfId && password ? await logIn(deps, selfId, password, at, c.req.raw.signal).catch(busy) : ({ outcome: 'wrong' } as const);
    if (result instanceof PasswordCheckRefused) return render(refusedBy(c, result), <LoginPage csrf={loginCsrfToken(c)} selfId={selfId} error={LOGIN_BUSY} />, result.status);
    if (result.outcome === 'ok') {
      setSessionCookie(c, result.token);
      deps.logger.info({ requestId: c.get('requestId'), contractCode: result.session.contractCode }, 'logged in (portal)');
      return c.redirect('/menu', 303);
    }
    const lockEnd = result.outcome === 'locked' ? result.until : result.lockedUntil;
    const error = lockEnd ? loginLocked(dateTimeJa(lockEnd)) : result.outcome === 'wrong' && result.attemptsLeft === 1 ? LOGIN_LAST_TRY : LOGIN_WRONG;
    return render(c, <LoginPage csrf={loginCsrfToken(c)} selfId={selfId} error={error} />, result.outcome === 'locked' ? 429 : 401);
  });

  app.post('/logout', limit, session, csrf, async (c) => {
    await deleteSession(deps.db, c.get('sessionToken'));
    clearSessionCookie(c);
    return c.redirect('/login?reason=logout', 303);
  });

  // ---- メニュー, ご契約内容の確認 ------------------------------------------------------------

  const contractView = async (c: Ctx) => {
    const view = await deps.queries.contract(c.get('session').contractCode, japanDateAt(now()));
    if (!view) notFound();
    return view;
  };

  // 手順2 ②: the menu and the current contract together.
  app.get('/menu', session, async (c) => render(c, <MenuPage menu={menuOf(c)} view={await contractView(c)} />));

  app.get('/contract', session, async (c) => {
    // The numbers used to be paged on this page (?page=N): such a link lands on their own screen.
    const page = c.req.query('page');
    if (page !== undefined) return c.redirect(contractPaths.numbers(pageOf(page)), 303);
    return render(c, <ContractPage menu={menuOf(c)} view={await contractView(c)} />);
  });

  app.get('/contract/numbers', session, async (c) => {
    const page = pageOf(c.req.query('page'));
    const { items, total } = await deps.queries.contractNumbers(c.get('session').contractCode, japanDateAt(now()), page, 1);
    return render(c, <ContractNumbersPage menu={menuOf(c)} number={items[0]} page={page} total={total} />);
  });

  app.get('/contract/freecall', session, async (c) => {
    const page = pageOf(c.req.query('page'));
    const freecall = (await contractView(c)).options.freecallNotification;
    const numbers = freecall.subscribed ? (freecall.freecallNumbers ?? []) : [];
    return render(c, <FreecallNumbersPage menu={menuOf(c)} numbers={numbers} page={page} />);
  });

  // ---- パスワードの変更: 開始 → 確認 → 完了 ----------------------------------------------------

  app.get('/password', session, (c) => render(c, <PasswordStartPage menu={menuOf(c)} problems={{}} />));

  app.post('/password/confirm', limit, session, handlerPlaceBack, csrf, async (c) => {
    const form = await formOf(c);
    const change = {
      currentPassword: (form.currentPassword ?? '').slice(0, 128),
      newPassword: (form.newPassword ?? '').slice(0, 128),
      newPasswordConfirmation: (form.newPasswordConfirmation ?? '').slice(0, 128),
    };
    const check = await checkPasswordChange(deps, c.get('session').contractCode, change, now()).catch(lockedPage(c));
    if (check instanceof Response) return check;
    if (check.problems.length > 0) return passwordProblemsPage(c, check);
    const sealed = sealPasswordChange(c.get('sessionToken'), change, now());
    return render(c, <PasswordConfirmPage menu={menuOf(c)} sealed={sealed} newLength={[...change.newPassword].length} />);
  });

  app.post('/password/complete', limit, session, handlerPlaceBack, csrf, async (c) => {
    const form = await formOf(c);
    const change = unsealPasswordChange(c.get('sessionToken'), form.pending, now());
    if (!change) {
      return render(c, <PasswordStartPage menu={menuOf(c)} problems={{}} notice="確認画面の有効期限が切れました。もう一度入力してください。" />, 422);
    }
    const { contractCode } = c.get('session');
    const check = await checkPasswordChange(deps, contractCode, change, now()).catch(lockedPage(c));
    if (check instanceof Response) return check;
    if (check.problems.length > 0 || check.verifiedEpoch === undefined || check.selfId === undefined) return passwordProblemsPage(c, check);
    const applied = await applyPasswordChange(
      deps,
      { contractCode, selfId: check.selfId, keepSession: c.get('sessionToken'), source: `portal:${c.get('requestId')}`, verifiedEpoch: check.verifiedEpoch },
      change.newPassword,
    ).catch(lockedPage(c));
    if (applied instanceof Response) return applied;
    return render(c, <PasswordDonePage menu={menuOf(c)} />);
  });

  /** A wrong current password says so next to the field, and whether the next one locks (or this one did). */
  const passwordProblemsPage = (c: Ctx, check: PasswordChangeCheck) => {
    const problems = byField(check.problems);
    if (check.attemptsLeft === 1 && !check.lockedUntil && problems.currentPassword) problems.currentPassword = problems.currentPassword.map((t) => `${t}${CURRENT_PASSWORD_LAST_TRY}`);
    const notice = check.lockedUntil ? passwordLocked(dateTimeJa(check.lockedUntil)) : undefined;
    return render(c, <PasswordStartPage menu={menuOf(c)} problems={problems} {...(notice ? { notice } : {})} />, 422);
  };
  const lockedPage = (c: Ctx) => (e: unknown) => {
    if (e instanceof PasswordCheckRefused) return render(refusedBy(c, e), <PasswordStartPage menu={menuOf(c)} problems={{}} notice={PASSWORD_CHECK_BUSY} />, e.status);
    if (!(e instanceof SelfIdLocked)) throw e;
    return render(c, <PasswordStartPage menu={menuOf(c)} problems={{}} notice={passwordLocked(dateTimeJa(e.until))} />, 429);
  };

  // ---- ご利用料金の確認 and its drill-downs -----------------------------------------------------

  app.get('/charges', session, async (c) => {
    const { contractCode } = c.get('session');
    const at = now();
    const window = portalMonths(at);
    const [totals, files] = await Promise.all([
      deps.queries.monthsTotals(contractCode, window.map((w) => w.month)),
      latestExportsOf(deps.db, contractCode, window.map((w) => w.month)),
    ]);
    const months: MonthRow[] = window.map(({ month, provisional }, i) => ({
      month,
      provisional,
      figures: totals[i]!.normal,
      telegrams: totals[i]!.telegrams,
      files: files.get(month) ?? {},
    }));
    return render(c, <ChargesPage menu={menuOf(c)} months={months} blackout={isExportBlackoutDay(at)} now={at} />);
  });

  app.get('/charges/:month/numbers', session, async (c) => {
    const month = inWindow(c);
    const m = await deps.queries.monthCharges(c.get('session').contractCode, month);
    return render(c, <NumbersPage menu={menuOf(c)} month={month} numbers={m.numbers} />);
  });

  app.get('/charges/:month/telegrams', session, async (c) => {
    const month = inWindow(c);
    const telegrams = await deps.queries.telegrams(c.get('session').contractCode, month);
    return render(c, <TelegramsPage menu={menuOf(c)} month={month} telegrams={telegrams} />);
  });

  // 通話明細's 画面に表示: the customer chooses the number (and the category); the choice is a GET
  // form back here, answered with the listing's address. One number only: nothing to choose.
  app.get('/charges/:month/calls', session, async (c) => {
    const month = inWindow(c);
    const { numbers } = await deps.queries.monthCharges(c.get('session').contractCode, month);
    const chosen = c.req.query('number');
    if (chosen !== undefined) {
      const number = numbers.find((n) => n.number === chosen);
      if (!number) notFound();
      return c.redirect(paths.calls(month, number.number, categoryOf(c.req.query('category'))), 303);
    }
    if (numbers.length === 1) return c.redirect(paths.calls(month, numbers[0]!.number), 303);
    return render(c, <CallsChooserPage menu={menuOf(c)} month={month} numbers={numbers} />);
  });

  app.get('/charges/:month/numbers/:number/calls', session, async (c) => {
    const { contractCode } = c.get('session');
    const month = inWindow(c);
    const number = c.req.param('number');
    if (!PHONE.test(number) || !(await isNumberOfContract(deps, contractCode, month, number))) notFound();
    const category = categoryOf(c.req.query('category'));
    const details = await deps.queries.callDetails(contractCode, month, number, category, pageOf(c.req.query('page')));
    return render(c, <CallsPage menu={menuOf(c)} month={month} number={number} category={category} details={details} />);
  });

  // ---- CSV: 作成受付の確認 → 作成受付完了 → 作成中 / 明細ダウンロード -------------------------------

  const notOnBlackoutDay = () => {
    if (isExportBlackoutDay(now())) throw new ApiError(503, 'EXPORT_UNAVAILABLE_TODAY', 'not on the 1st or the last day');
  };

  app.get('/charges/:month/exports/new', session, (c) => {
    const month = inWindow(c);
    const kind = c.req.query('kind');
    if (kind !== 'numbers' && kind !== 'calls') notFound();
    notOnBlackoutDay();
    return render(c, <ExportConfirmPage menu={menuOf(c)} month={month} kind={kind} />);
  });

  app.post('/charges/:month/exports', limit, session, csrf, async (c) => {
    const month = inWindow(c);
    const form = await formOf(c);
    const kind = form.kind;
    const encoding = form.encoding ?? 'sjis';
    if ((kind !== 'numbers' && kind !== 'calls') || (encoding !== 'sjis' && encoding !== 'utf-8')) throw new ApiError(400, 'BAD_REQUEST', 'kind or encoding');
    const { job, reused } = await createExportJob(deps, c.get('session').contractCode, { month, kind, encoding });
    // The same file made from the same figures is ready: straight to its download.
    if (reused) return c.redirect(paths.exportStatus(job.id), 303);
    return render(c, <ExportAcceptedPage menu={menuOf(c)} job={job} />, 202);
  });

  app.get('/charges/:month/downloads', session, async (c) => {
    const month = inWindow(c);
    notOnBlackoutDay();
    const jobs = await latestExports(deps.db, c.get('session').contractCode, month);
    return render(c, <DownloadsPage menu={menuOf(c)} month={month} jobs={jobs} now={now()} />);
  });

  app.get('/exports/:id', session, async (c) => {
    const job = await ownExport(c);
    notOnBlackoutDay();
    return render(c, <ExportStatusPage menu={menuOf(c)} job={job} now={now()} />);
  });

  app.get('/exports/:id/file', session, async (c) => {
    const id = c.req.param('id');
    try {
      const file = await openExportFile(deps, c.get('session').contractCode, id, c.get('lane'), c.req.raw.signal);
      for (const [name, value] of Object.entries(file.headers)) c.header(name, value);
      return c.body(file.body, 200);
    } catch (e) {
      // Still being made: back to the page that says so.
      if (e instanceof ApiError && e.code === 'EXPORT_NOT_READY') return c.redirect(paths.exportStatus(id), 303);
      throw e;
    }
  });

  /** A category from the query: none (every call), one of SPEC §3.1's, or not found. */
  function categoryOf(text: string | undefined): Category | undefined {
    if (text === undefined || text === '') return undefined;
    if (!(CATEGORIES as readonly string[]).includes(text)) notFound();
    return text as Category;
  }

  async function ownExport(c: Ctx): Promise<ExportJob> {
    const id = c.req.param('id') ?? '';
    // Another contract's job is not found, like the API's.
    const job = UUID.test(id) ? await findExport(deps.db, c.get('session').contractCode, id) : undefined;
    if (!job) notFound();
    return job;
  }

  // ---- errors as pages ----------------------------------------------------------------------

  app.onError(async (err, c) => {
    let status: ContentfulStatusCode = 500;
    let code = 'INTERNAL_ERROR';
    if (err instanceof ApiError) {
      status = err.status;
      code = err.code;
    } else if (err instanceof HTTPException) {
      status = err.status as ContentfulStatusCode;
      code = `HTTP_${status}`;
    } else if (databaseTrouble(err)) {
      // The database is away or busy: "try again shortly", never an internal error.
      status = 503;
      code = databaseTrouble(err) === 'unavailable' ? 'DATABASE_UNAVAILABLE' : 'LEDGER_BUSY';
      c.header('Retry-After', code === 'DATABASE_UNAVAILABLE' ? '5' : '30');
      deps.logger.warn({ requestId: c.get('requestId'), method: c.req.method, path: c.req.path, reason: describe(err) }, 'portal: database unavailable or busy');
    } else {
      deps.logger.error({ requestId: c.get('requestId'), err, method: c.req.method, path: c.req.path }, 'unhandled error (portal)');
    }
    const { title, text } = errorPageOf(status, code);
    const token = c.get('sessionToken');
    const menu = token && c.get('session') ? menuOf(c) : undefined;
    return render(c, <ErrorPage {...(menu ? { menu } : {})} title={title} text={text} />, status);
  });

  return app;
}

function pageOf(text: string | undefined): number {
  if (text === undefined || text === '') return 1;
  if (!/^[1-9]\d{0,5}$/.test(text)) throw new ApiError(400, 'BAD_REQUEST', 'page');
  return Number.parseInt(text, 10);
}

/** The problems of a password change, in Japanese, next to the field each concerns. */
function byField(problems: readonly { code: string; message: string }[]): FieldProblems {
  const out: FieldProblems = {};
  for (const p of problems) {
    const known = PASSWORD_PROBLEMS[p.code as keyof typeof PASSWORD_PROBLEMS];
    const field = known?.field ?? 'newPassword';
    (out[field] ??= []).push(known?.text ?? p.message);
  }
  return out;
}
