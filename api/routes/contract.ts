// GET /api/v1/contract (SPEC §1 ご契約内容), GET /api/v1/contract/numbers (契約電話番号詳細, paged).
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { OPTION_KEYS } from '../../domain/events.ts';
import { japanDateAt } from '../../domain/time.ts';
import { ApiError } from '../errors.ts';
import type { AppEnv, RouteDeps } from '../env.ts';
import { requireSession } from '../auth.ts';
import { errors, PageQuery, pageNumber, validationHook } from '../schemas.ts';

const OptionSchema = z.object({
  subscribed: z.boolean(),
  effectiveFrom: z.string().optional(),
  representativeNumber: z.string().optional(),
  freecallNumbers: z.array(z.string()).optional(),
});

const ContractSchema = z
  .object({
    contractCode: z.string(),
    selfId: z.string(),
    startDate: z.string(),
    channels: z.number().int(),
    connectionType: z.string(),
    primaryDns: z.string(),
    secondaryDns: z.string(),
    basicNumber: z.string(),
    numberCount: z.number().int(),
    dialInNumberCount: z.number().int(),
    options: z.object(Object.fromEntries(OPTION_KEYS.map((k) => [k, OptionSchema]))),
  })
  .openapi('Contract');

const NumbersSchema = z.object({
  items: z.array(z.object({ basicNumber: z.string(), dialInNumber: z.string(), auMobileNumber: z.string(), startDate: z.string() })),
  page: z.number().int(),
  size: z.number().int(),
  total: z.number().int(),
});

const contractRoute = createRoute({
  method: 'get',
  path: '/contract',
  operationId: 'getContract',
  summary: 'The contract summary (ご契約内容) as of today',
  security: [{ session: [] }],
  responses: { 200: { description: 'the summary', content: { 'application/json': { schema: ContractSchema } } }, ...errors(401, 404) },
});

const numbersRoute = createRoute({
  method: 'get',
  path: '/contract/numbers',
  operationId: 'listContractNumbers',
  summary: 'Contract phone number details, paged (size 1 by default: NEXT / BACK)',
  security: [{ session: [] }],
  request: {
    query: z.object({
      page: PageQuery,
      size: z.string().regex(/^[1-9]\d{0,2}$/, 'expected a page size 1–999').optional().openapi({ param: { name: 'size', in: 'query' }, example: '1' }),
    }),
  },
  responses: { 200: { description: 'one page of numbers', content: { 'application/json': { schema: NumbersSchema } } }, ...errors(400, 401) },
});

export function contractRoutes(deps: RouteDeps) {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  const session = requireSession(deps);

  app.openapi({ ...contractRoute, middleware: [session] as const }, async (c) => {
    const { contractCode } = c.get('session');
    const view = await deps.queries.contract(contractCode, japanDateAt(deps.clock()));
    if (!view) throw new ApiError(404, 'CONTRACT_NOT_FOUND', 'the contract is not (yet) known');
    const options = Object.fromEntries(
      OPTION_KEYS.map((k) => {
        const o = view.options[k] ?? { subscribed: false };
        return [
          k,
          {
            subscribed: o.subscribed,
            ...(o.effectiveFrom !== undefined ? { effectiveFrom: o.effectiveFrom } : {}),
            ...(o.representativeNumber !== undefined ? { representativeNumber: o.representativeNumber } : {}),
            ...(o.freecallNumbers !== undefined ? { freecallNumbers: [...o.freecallNumbers] } : {}),
          },
        ];
      }),
    );
    return c.json(
      {
        contractCode: view.contractCode,
        selfId: view.selfId,
        startDate: view.startDate,
        channels: view.channels,
        connectionType: view.connectionType,
        primaryDns: view.primaryDns,
        secondaryDns: view.secondaryDns,
        basicNumber: view.basicNumber,
        numberCount: view.numberCount,
        dialInNumberCount: view.dialInNumberCount,
        options,
      },
      200,
    );
  });

  app.openapi({ ...numbersRoute, middleware: [session] as const }, async (c) => {
    const { contractCode } = c.get('session');
    const query = c.req.valid('query');
    const page = pageNumber(query.page);
    const size = query.size === undefined ? 1 : Number.parseInt(query.size, 10);
    const { items, total } = await deps.queries.contractNumbers(contractCode, japanDateAt(deps.clock()), page, size);
    return c.json(
      {
        items: items.map((n) => ({ basicNumber: n.basicNumber, dialInNumber: n.dialInNumber, auMobileNumber: n.auMobileNumber, startDate: n.startDate })),
        page,
        size,
        total,
      },
      200,
    );
  });

  return app;
}
