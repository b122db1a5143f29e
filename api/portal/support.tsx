// セルフページについてのお問い合わせ先 (SPEC §4): every page names where the customer can ask about
// the self-page. Which desk answers, on which number and when, is a fact of the deployment, not of
// the code: it comes from configuration (LEDGER_SUPPORT_NAME / _PHONE / _HOURS, cli/config.ts), and
// the default below is a placeholder an operator is expected to replace.
import { createContext, useContext, type FC } from 'hono/jsx';

export interface SupportDesk {
  /** The desk's name, e.g. 法人お客さまセンター. */
  readonly name: string;
  /** As printed; digits of it become the `tel:` link. */
  readonly phone: string;
  /** 受付時間, e.g. 平日 9:00～18:00. */
  readonly hours: string;
}

/** 03-0000-0000 can be no one's number (no Tokyo exchange code starts with 0), so the default never rings a stranger. */
export const DEFAULT_SUPPORT_DESK: SupportDesk = {
  name: 'auオフィスナンバー セルフページ サポートデスク',
  phone: '03-0000-0000',
  hours: '平日 9:00～18:00（土・日・祝日、年末年始を除く）',
};

const MAX_LENGTH = 80;
const PHONE = /^\+?[0-9][0-9\- ()]{2,28}[0-9]$/;

export class SupportDeskConfigError extends Error {
  override readonly name = 'SupportDeskConfigError';
}

/** The configured desk, each field defaulting on its own; a field that cannot be shown is refused by name. */
export function supportDeskFrom(input: { readonly name?: string | undefined; readonly phone?: string | undefined; readonly hours?: string | undefined }): SupportDesk {
  const field = (key: keyof SupportDesk, env: string): string => {
    const value = input[key]?.trim();
    if (value === undefined || value === '') return DEFAULT_SUPPORT_DESK[key];
    if (/[\u0000-\u001f\u007f]/.test(value)) throw new SupportDeskConfigError(`${env} must be one line of text without control characters`);
    if ([...value].length > MAX_LENGTH) throw new SupportDeskConfigError(`${env} must be at most ${MAX_LENGTH} characters, got ${[...value].length}`);
    return value;
  };
  const desk = { name: field('name', 'LEDGER_SUPPORT_NAME'), phone: field('phone', 'LEDGER_SUPPORT_PHONE'), hours: field('hours', 'LEDGER_SUPPORT_HOURS') };
  if (!PHONE.test(desk.phone)) throw new SupportDeskConfigError(`LEDGER_SUPPORT_PHONE must be a phone number of digits, hyphens, spaces or parentheses (e.g. 0120-123-456), got ${JSON.stringify(desk.phone)}`);
  return desk;
}

/** The desk the pages being rendered show (set by render(), api/portal/layout.tsx). */
export const SupportDeskContext = createContext<SupportDesk>(DEFAULT_SUPPORT_DESK);

/** The desk as a definition list: its name, its number (a tel: link) and its hours. */
export const SupportDeskDetails: FC<{ id?: string }> = ({ id }) => {
  const desk = useContext(SupportDeskContext);
  return (
    <dl class="support" id={id}>
      <dt>窓口</dt>
      <dd>{desk.name}</dd>
      <dt>電話番号</dt>
      <dd>
        <a href={`tel:${desk.phone.replace(/[^0-9+]/g, '')}`}>{desk.phone}</a>
      </dd>
      <dt>受付時間</dt>
      <dd>{desk.hours}</dd>
    </dl>
  );
};
