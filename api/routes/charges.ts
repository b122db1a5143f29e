// SPEC §4 ご利用料金の確認: the monthly window, per number, call details (10 per page), telegrams.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { Money } from '../../domain/money.ts';
import { japanDateAt, periodOf, type Month } from '../../domain/time.ts';
import type { Category } from '../../domain/events.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv, RouteDeps } from '../env.ts';
import { requireSession } from '../auth.ts';
import { Amount, CategorySchema, errors, Figures, IsoTime, MonthParam, PageQuery, PhoneNumberParam, WholeYen, pageNumber, validationHook } from '../schemas.ts';
import { callJson, figuresJson, telegramJson, wholeYenJson } from '../format.ts';
import { portalMonths, requirePortalMonth } from '../window.ts';

const MonthSummary = z
  .object({
    month: z.string(),
    period: z.object({ from: z.string(), to: z.string() }),
    provisional: z.boolean(),
    normal: Figures,
    billed: Figures,
    yen: z.object({ total: WholeYen, domestic: WholeYen, international: WholeYen, mobile: WholeYen }),
    telegrams: Amount.openapi({ description: 'the month’s telegram charges (電報明細), not part of normal or billed' }),
  })
  .openapi('MonthSummary');

const NumberItem = z.object({
  number: z.string(),
  total: Amount,
  domestic: Amount,
  international: Amount,
  mobile: Amount,
  au: Amount,
  otherMobile: Amount,
  billed: Figures,
  calls: z.number().int(),
});

const Adjustment = z
  .object({
    kind: z.enum(['late', 'corrected', 'voided']).openapi({
      description: 'late: a call of a closed month recorded after its close; corrected / voided: the difference a late correction or void made (charge = new − old, may be negative)',
    }),
    month: z.string().openapi({ description: 'the closed month adjusted (YYYY-MM)', example: '2017-11' }),
    callId: z.string().openapi({ description: 'the call adjusted (for late: the call itself)' }),
  })
  .openapi('Adjustment', { description: '前月以前分の調整: a row carried from a closed month into this one (SPEC §4.1)' });

const TelegramAdjustment = z
  .object({
    kind: z.enum(['late']).openapi({ description: 'a telegram of a closed month recorded after its close' }),
    month: z.string().openapi({ description: 'the closed month adjusted (YYYY-MM)', example: '2017-11' }),
  })
  .openapi('TelegramAdjustment', { description: '前月以前分の調整: a telegram carried from a closed month into this one (SPEC §4.1)' });

const CallItem = z
  .object({
    seq: z.number().int(),
    callId: z.string(),
    startedAt: IsoTime,
    usingNumber: z.string(),
    destination: z.string(),
    area: z.string(),
    duration: z.string().nullable(),
    count: z.number().int().nullable(),
    extensionType: z.string(),
    callType: z.string(),
    category: z.string(),
    charge: Amount,
    billed: Amount,
    adjustment: Adjustment.nullable().openapi({ description: 'null for a call of this month; else what the row adjusts of a closed month' }),
  })
  .openapi('Call');

const security = [{ session: [] }];

const summaryRoute = createRoute({
  method: 'get',
  path: '/charges',
  operationId: 'listMonthlyCharges',
  summary: 'Monthly charges: the current month (provisional) and the last four months, newest first',
  security,
  responses: { 200: { description: 'months', content: { 'application/json': { schema: z.object({ months: z.array(MonthSummary) }) } } }, ...errors(401) },
});

const numbersRoute = createRoute({
  method: 'get',
  path: '/charges/{month}/numbers',
  operationId: 'listChargesPerNumber',
  summary: 'Charges per number (電話番号別ご利用料金)',
  security,
  request: { params: z.object({ month: MonthParam }) },
  responses: {
    200: { description: 'per number', content: { 'application/json': { schema: z.object({ month: z.string(), items: z.array(NumberItem) }) } } },
    ...errors(400, 401, 404),
  },
});

const callsRoute = createRoute({
  method: 'get',
  path: '/charges/{month}/numbers/{number}/calls',
  operationId: 'listCallDetails',
  summary: 'Call details (ご利用明細) of a number, 10 per page in start order; total and sum are the whole listing’s (ご利用金額合計), not the page’s',
  security,
  request: {
    params: z.object({ month: MonthParam, number: PhoneNumberParam }),
    query: z.object({ category: CategorySchema.optional().openapi({ param: { name: 'category', in: 'query' } }), page: PageQuery }),
  },
  responses: {
    200: {
      description: 'one page',
      content: {
        'application/json': {
          schema: z.object({ items: z.array(CallItem), page: z.number().int(), pageSize: z.number().int(), total: z.number().int(), sum: Amount }),
        },
      },
    },
    ...errors(400, 401, 404),
  },
});

const telegramsRoute = createRoute({
  method: 'get',
  path: '/charges/{month}/telegrams',
  operationId: 'listTelegrams',
  summary: 'Telegram details (電報明細) of the month; not included in call totals',
  security,
  request: { params: z.object({ month: MonthParam }) },
  responses: {
    200: {
      description: 'telegrams',
      content: {
        'application/json': {
          schema: z.object({
            month: z.string(),
            items: z.array(
              z.object({
                telegramId: z.string(),
                receiptNumber: z.string().nullable().openapi({ description: '受付番号; null for a telegram recorded before receipt numbers' }),
                date: z.string(),
                destination: z.string(),
                kind: z.string(),
                charge: Amount,
                adjustment: TelegramAdjustment.nullable().openapi({ description: 'null for a telegram of this month; else the closed month it was carried from' }),
              }),
            ),
            total: Amount,
          }),
        },
      },
    },
    ...errors(400, 401, 404),
  },
});

export function chargesRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const session = requireSession(deps);

  app.openapi({ ...summaryRoute, middleware: [session] as const }, async (c) => {
    const { contractCode } = c.get('session');
    const window = portalMonths(deps.clock());
    const charges = await deps.queries.monthsTotals(contractCode, window.map((w) => w.month));
    const months = window.map(({ month, provisional }, i) => {
      const m = charges[i]!;
      return { month, period: periodOf(month), provisional, normal: figuresJson(m.normal), billed: figuresJson(m.billed), yen: wholeYenJson(m.normal), telegrams: m.telegrams.toString() };
    });
    return c.json({ months }, 200);
  });

  app.openapi({ ...numbersRoute, middleware: [session] as const }, async (c) => {
    const { contractCode } = c.get('session');
    const { month } = c.req.valid('param');
    requirePortalMonth(month, deps.clock());
    const m = await deps.queries.monthCharges(contractCode, month);
    const items = m.numbers.map((n) => ({ number: n.number, ...figuresJson(n.normal), billed: figuresJson(n.billed), calls: n.calls }));
    return c.json({ month, items }, 200);
  });

  app.openapi({ ...callsRoute, middleware: [session] as const }, async (c) => {
    const { contractCode } = c.get('session');
    const { month, number } = c.req.valid('param');
    const query = c.req.valid('query');
    requirePortalMonth(month, deps.clock());
    const page = await deps.queries.callDetails(contractCode, month, number, query.category as Category | undefined, pageNumber(query.page));
    // Every query is scoped to the session's contract: another contract's number has no calls here,
    // and is then told apart from an own number without calls (404 either way for others).
    if (page.total === 0 && !(await isNumberOfContract(deps, contractCode, month, number))) {
      throw new ApiError(404, 'NUMBER_NOT_FOUND', `no number ${number} on this contract in ${month}`);
    }
    return c.json({ items: page.items.map(callJson), page: page.page, pageSize: page.pageSize, total: page.total, sum: page.sum.toString() }, 200);
  });

  app.openapi({ ...telegramsRoute, middleware: [session] as const }, async (c) => {
    const { contractCode } = c.get('session');
    const { month } = c.req.valid('param');
    requirePortalMonth(month, deps.clock());
    const telegrams = await deps.queries.telegrams(contractCode, month);
    return c.json(
      {
        month,
        items: telegrams.map(telegramJson),
        total: Money.sum(telegrams.map((t) => t.charge)).toString(),
      },
      200,
    );
  });

  return app;
}

/** Only this contract's numbers: the month's numbers, or a number the contract holds (with no calls yet). */
export async function isNumberOfContract(deps: Pick<RouteDeps, 'queries' | 'clock'>, contractCode: string, month: Month, number: string): Promise<boolean> {
  const m = await deps.queries.monthCharges(contractCode, month);
  return m.numbers.some((n) => n.number === number) || (await holdsNumber(deps, contractCode, number));
}

async function holdsNumber(deps: Pick<RouteDeps, 'queries' | 'clock'>, contractCode: string, number: string): Promise<boolean> {
  const today = japanDateAt(deps.clock());
  const view = await deps.queries.contract(contractCode, today);
  if (!view) return false;
  if (view.basicNumber === number) return true;
  const { items } = await deps.queries.contractNumbers(contractCode, today, 1, 1000);
  return items.some((n) => n.dialInNumber === number);
}
