// The self-page's pages, as the carrier's manual shows them (SPEC §1–§5). Pure: props in, markup
// out. Every amount and date goes through api/format.ts — none is formatted here.
import type { FC } from 'hono/jsx';
import { CATEGORIES, OPTION_KEYS, OPTION_LABELS, type Category } from '../../domain/events.ts';
import type { Month } from '../../domain/time.ts';
import type { Adjustment, CallDetailPage, CategoryFigures, ContractNumber, ContractView, NumberCharges, Telegram, TelegramAdjustment } from '../../projections/read-model.ts';
import { ADJUSTMENT_KIND_JA, ADJUSTMENT_LABEL_JA } from '../../domain/adjustments.ts';
import { Money } from '../../domain/money.ts';
import { isExpired, type ExportJob } from '../exports.ts';
import type { ExportKind } from '../ports.ts';
import { callStartJa, dateJa, dateTimeJa, durationJa, monthJa, periodJa, shortDateTimeJa, wholeYenJa, yenJa } from '../format.ts';
import { CsrfField, Layout, Region, type PageProps } from './layout.tsx';
import { SupportDeskDetails } from './support.tsx';
import {
  BLACKOUT_JA,
  CREATION_TAKES_JA,
  LOGIN_LOCK_NOTE,
  PASSWORD_RULES,
  RETENTION_JA,
  type PasswordField,
} from './messages.ts';

type Menu = NonNullable<PageProps['menu']>;

export const CATEGORY_LABELS: Record<Category, string> = {
  domestic: '国内通話',
  international: '国際通話',
  au: 'au通話',
  otherMobile: 'その他移動体',
};

export const FILE_LABELS: Record<ExportKind, string> = { numbers: '電話番号別ご利用料金', calls: '通話明細' };

const ENCODING_LABELS = { sjis: 'Shift_JIS', 'utf-8': 'UTF-8' } as const;

export const paths = {
  numbers: (month: Month) => `/charges/${month}/numbers`,
  /** 通話明細's 画面に表示: the customer picks the number (and category) first. */
  chooseCalls: (month: Month) => `/charges/${month}/calls`,
  telegrams: (month: Month) => `/charges/${month}/telegrams`,
  calls: (month: Month, number: string, category?: Category, page?: number) => {
    const q = new URLSearchParams();
    if (category) q.set('category', category);
    if (page && page > 1) q.set('page', String(page));
    const qs = q.toString();
    return `/charges/${month}/numbers/${number}/calls${qs ? `?${qs}` : ''}`;
  },
  newExport: (month: Month, kind: ExportKind) => `/charges/${month}/exports/new?kind=${kind}`,
  downloads: (month: Month) => `/charges/${month}/downloads`,
  exportStatus: (id: string) => `/exports/${id}`,
  exportFile: (id: string) => `/exports/${id}/file`,
};

// ---- ログイン ---------------------------------------------------------------------------------

export const LoginPage: FC<{ csrf: string; selfId?: string; error?: string; notice?: string }> = ({ csrf, selfId, error, notice }) => (
  <Layout title="ログイン" supportInBody>
    {notice ? (
      <p class="info" role="status">
        {notice}
      </p>
    ) : null}
    {error ? (
      <p class="alert" role="alert" id="login-error">
        {error}
      </p>
    ) : null}
    <form class="stack" method="post" action="/login">
      <CsrfField token={csrf} />
      <div class="field">
        <label for="selfId">セルフID</label>
        <input id="selfId" name="selfId" type="text" autocomplete="username" autocapitalize="none" spellcheck={false} required maxlength={64} value={selfId ?? ''} aria-describedby={error ? 'login-error' : undefined} autofocus />
      </div>
      <div class="field">
        <label for="password">セルフパスワード</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required maxlength={128} aria-describedby={error ? 'login-error' : 'login-hint'} />
        <p class="hint" id="login-hint">
          {LOGIN_LOCK_NOTE}
        </p>
      </div>
      <button class="button" type="submit">
        ログイン
      </button>
    </form>
    <section class="support-box" aria-labelledby="login-support">
      <h2 id="login-support">セルフページについてのお問い合わせ先</h2>
      <p>セルフパスワードをお忘れの場合や、ログインできない場合は、こちらにお問い合わせください。初期パスワードを再発行します。</p>
      <SupportDeskDetails />
    </section>
  </Layout>
);

// ---- メニュー ---------------------------------------------------------------------------------

/** The manual's 手順2 ②: after login, the menu and the current contract on one page. */
export const MenuPage: FC<{ menu: Menu; view: ContractView }> = ({ menu, view }) => (
  <Layout title="メニュー" menu={{ ...menu, current: 'menu' }}>
    <p>ご利用になるメニューを選んでください。</p>
    <ul class="menu-list">
      <li>
        <a href="/contract">ご契約内容の確認</a>：契約内容、オプションのお申し込み状況、契約電話番号詳細
      </li>
      <li>
        <a href="/password">パスワードの変更</a>：セルフパスワードの変更
      </li>
      <li>
        <a href="/charges">ご利用料金の確認</a>：前月分を含め過去4カ月分のご利用料金、明細の表示・ダウンロード
      </li>
    </ul>
    <ContractSummary view={view} caption="現在のご契約内容" />
  </Layout>
);

// ---- ご契約内容の確認 -------------------------------------------------------------------------

export const contractPaths = {
  numbers: (page = 1) => `/contract/numbers${page > 1 ? `?page=${page}` : ''}`,
  freecall: (page = 1) => `/contract/freecall${page > 1 ? `?page=${page}` : ''}`,
};

/** The manual's units: 契約電話番号数 `2件`, チャンネル数/回線数 `1チャンネル/回線`, 追加ダイヤルイン番号数 `1番号`. */
const units = {
  numbers: (n: number) => `${n}件`,
  channels: (n: number) => `${n}チャンネル/回線`,
  dialIns: (n: number) => `${n}番号`,
};

const DetailLink: FC<{ href: string; label: string }> = ({ href, label }) => (
  <a class="button small secondary" href={href} aria-label={`${label}を表示`}>
    表示
  </a>
);

/** SPEC §1's table, with the links to 契約電話番号詳細 and フリーコール(選択)電話番号詳細 where the manual has them. */
export const ContractSummary: FC<{ view: ContractView; caption: string }> = ({ view, caption }) => {
  const freecall = view.options.freecallNotification;
  const representative = view.options.representativeNumber;
  const freecallCount = freecall.subscribed ? (freecall.freecallNumbers?.length ?? 0) : 0;
  return (
    <table class="kv contract">
      <caption>{caption}</caption>
      <tbody>
        <tr>
          <th scope="row">セルフID</th>
          <td>{view.selfId}</td>
        </tr>
        <tr>
          <th scope="row">契約コード</th>
          <td>{view.contractCode}</td>
        </tr>
        <tr>
          <th scope="row">契約電話番号数</th>
          <td>
            {units.numbers(view.numberCount)}
            <span class="hint">（KDDI管理用の基本電話番号1件を含みます）</span>
          </td>
        </tr>
        <tr>
          <th scope="row">チャンネル数/回線数</th>
          <td>{units.channels(view.channels)}</td>
        </tr>
        <tr>
          <th scope="row">追加ダイヤルイン番号数</th>
          <td>{units.dialIns(view.dialInNumberCount)}</td>
        </tr>
        <tr>
          <th scope="row">契約電話番号詳細</th>
          <td>{view.dialInNumberCount > 0 ? <DetailLink href={contractPaths.numbers()} label="契約電話番号詳細" /> : 'ありません'}</td>
        </tr>
        {OPTION_KEYS.map((k) => (
          <>
            <tr>
              <th scope="row">{OPTION_LABELS[k]}</th>
              <td>
                {view.options[k].subscribed ? '申込済' : '未申込'}
                {k === 'representativeNumber' && representative.subscribed && representative.representativeNumber ? `（通知電話番号 ${representative.representativeNumber}）` : null}
              </td>
            </tr>
            {k === 'freecallNotification' ? (
              <tr>
                <th scope="row">フリーコール(選択)電話番号詳細</th>
                <td>{freecallCount > 0 ? <DetailLink href={contractPaths.freecall()} label="フリーコール(選択)電話番号詳細" /> : 'ありません'}</td>
              </tr>
            ) : null}
          </>
        ))}
        <tr>
          <th scope="row">ご利用開始日</th>
          <td>{dateJa(view.startDate)}</td>
        </tr>
        <tr>
          <th scope="row">接続タイプ</th>
          <td>{view.connectionType}</td>
        </tr>
        <tr>
          <th scope="row">プライマリDNS</th>
          <td>{view.primaryDns}</td>
        </tr>
        <tr>
          <th scope="row">セカンダリDNS</th>
          <td>{view.secondaryDns}</td>
        </tr>
      </tbody>
    </table>
  );
};

export const ContractPage: FC<{ menu: Menu; view: ContractView }> = ({ menu, view }) => (
  <Layout title="ご契約内容の確認" menu={{ ...menu, current: 'contract' }}>
    <ContractSummary view={view} caption="ご契約内容" />
    <div class="actions">
      <a class="button secondary" href="/menu">
        メニューに戻る
      </a>
    </div>
  </Layout>
);

/** BACK / position / NEXT over screens of one item each (the manual's 契約電話番号詳細). */
const StepPager: FC<{ label: string; page: number; total: number; href: (page: number) => string }> = ({ label, page, total, href }) => (
  <nav class="pager" aria-label={`${label}のページ`}>
    {page > 1 ? (
      <a class="button secondary small" href={href(page - 1)} rel="prev">
        BACK
      </a>
    ) : (
      <span class="button secondary small" aria-disabled="true">
        BACK
      </span>
    )}
    <span class="position" aria-live="polite">
      {page} / {total}
    </span>
    {page < total ? (
      <a class="button secondary small" href={href(page + 1)} rel="next">
        NEXT
      </a>
    ) : (
      <span class="button secondary small" aria-disabled="true">
        NEXT
      </span>
    )}
  </nav>
);

const BackToContract: FC = () => (
  <div class="actions">
    <a class="button secondary" href="/contract">
      ご契約内容の確認へ戻る
    </a>
  </div>
);

export const ContractNumbersPage: FC<{ menu: Menu; number: ContractNumber | undefined; page: number; total: number }> = ({ menu, number, page, total }) => (
  <Layout title="契約電話番号詳細" menu={{ ...menu, current: 'contract' }}>
    {number ? (
      <>
        <table class="kv">
          <caption>
            契約電話番号詳細（{page}件目／全{total}件）
          </caption>
          <tbody>
            <tr>
              <th scope="row">基本電話番号</th>
              <td>{number.basicNumber}</td>
            </tr>
            <tr>
              <th scope="row">追加ダイヤルイン番号</th>
              <td>{number.dialInNumber}</td>
            </tr>
            <tr>
              <th scope="row">au携帯電話番号</th>
              <td>{number.auMobileNumber}</td>
            </tr>
            <tr>
              <th scope="row">ご利用開始日</th>
              <td>{dateJa(number.startDate)}</td>
            </tr>
          </tbody>
        </table>
        <StepPager label="契約電話番号詳細" page={page} total={total} href={contractPaths.numbers} />
      </>
    ) : (
      <p>{total > 0 ? 'このページに電話番号はありません。' : '追加ダイヤルイン番号はありません。'}</p>
    )}
    <BackToContract />
  </Layout>
);

export const FreecallNumbersPage: FC<{ menu: Menu; numbers: readonly string[]; page: number }> = ({ menu, numbers, page }) => {
  const number = numbers[page - 1];
  return (
    <Layout title="フリーコール(選択)電話番号詳細" menu={{ ...menu, current: 'contract' }}>
      {number ? (
        <>
          <table class="kv">
            <caption>
              フリーコール(選択)電話番号詳細（{page}件目／全{numbers.length}件）
            </caption>
            <tbody>
              <tr>
                <th scope="row">フリーコール(選択)電話番号</th>
                <td>{number}</td>
              </tr>
            </tbody>
          </table>
          <StepPager label="フリーコール(選択)電話番号詳細" page={page} total={numbers.length} href={contractPaths.freecall} />
        </>
      ) : (
        <p>{numbers.length > 0 ? 'このページに電話番号はありません。' : 'フリーコール(選択)番号通知サービスは未申込です。'}</p>
      )}
      <BackToContract />
    </Layout>
  );
};

// ---- パスワードの変更 (開始 → 確認 → 完了) ------------------------------------------------------

export type FieldProblems = Partial<Record<PasswordField, string[]>>;

const PasswordInput: FC<{ id: PasswordField; label: string; problems: FieldProblems; autocomplete: string; hint?: string }> = ({ id, label, problems, autocomplete, hint }) => {
  const errors = problems[id] ?? [];
  const describedBy = [errors.length > 0 ? `${id}-error` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ');
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input id={id} name={id} type="password" autocomplete={autocomplete} maxlength={128} required aria-invalid={errors.length > 0 ? 'true' : undefined} aria-describedby={describedBy || undefined} />
      {hint ? (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {errors.length > 0 ? (
        <div class="error" id={`${id}-error`}>
          {errors.map((e) => (
            <p>{e}</p>
          ))}
        </div>
      ) : null}
    </div>
  );
};

export const PasswordStartPage: FC<{ menu: Menu; problems: FieldProblems; notice?: string }> = ({ menu, problems, notice }) => {
  const count = Object.values(problems).reduce((n, list) => n + (list?.length ?? 0), 0);
  return (
    <Layout title="セルフパスワード変更（開始）" menu={{ ...menu, current: 'password' }}>
      {notice ? (
        <p class="alert" role="alert">
          {notice}
        </p>
      ) : null}
      {count > 0 ? (
        <p class="alert" role="alert">
          入力内容に誤りがあります（{count}件）。各項目のメッセージをご確認のうえ、もう一度入力してください。
        </p>
      ) : null}
      <p>現在のセルフパスワードと、新しいセルフパスワードを入力して「確認」を押してください。</p>
      <h2 id="rules-title">新しいセルフパスワードの条件</h2>
      <ul class="notes" aria-labelledby="rules-title">
        {PASSWORD_RULES.map((r) => (
          <li>{r}</li>
        ))}
      </ul>
      <form class="stack" method="post" action="/password/confirm">
        <CsrfField token={menu.csrf} />
        <PasswordInput id="currentPassword" label="現在のセルフパスワード" problems={problems} autocomplete="current-password" />
        <PasswordInput id="newPassword" label="新しいセルフパスワード" problems={problems} autocomplete="new-password" hint="4～8文字の半角英数字（英字と数字をそれぞれ1文字以上）" />
        <PasswordInput id="newPasswordConfirmation" label="新しいセルフパスワード（確認用）" problems={problems} autocomplete="new-password" hint="確認のため、もう一度入力してください" />
        <div class="actions">
          <button class="button" type="submit">
            確認
          </button>
          <a class="button secondary" href="/menu">
            メニューに戻る
          </a>
        </div>
      </form>
    </Layout>
  );
};

export const PasswordConfirmPage: FC<{ menu: Menu; sealed: string; newLength: number }> = ({ menu, sealed, newLength }) => (
  <Layout title="セルフパスワード変更（確認）" menu={{ ...menu, current: 'password' }}>
    <p>以下の内容でセルフパスワードを変更します。よろしければ「変更する」を押してください。</p>
    <table class="kv">
      <tbody>
        <tr>
          <th scope="row">新しいセルフパスワード</th>
          <td>
            <span aria-hidden="true">{'●'.repeat(newLength)}</span>
            <span class="hint">（{newLength}文字、表示していません）</span>
          </td>
        </tr>
      </tbody>
    </table>
    <div class="actions">
      <form method="post" action="/password/complete">
        <CsrfField token={menu.csrf} />
        <input type="hidden" name="pending" value={sealed} />
        <button class="button" type="submit">
          変更する
        </button>
      </form>
      <a class="button secondary" href="/password">
        入力し直す
      </a>
    </div>
  </Layout>
);

export const PasswordDonePage: FC<{ menu: Menu }> = ({ menu }) => (
  <Layout title="セルフパスワード変更（完了）" menu={{ ...menu, current: 'password' }}>
    <p class="done" role="status">
      セルフパスワードを変更しました。次回のログインから、新しいセルフパスワードをご利用ください。
    </p>
    <p>ほかの端末でログインしていた場合、その画面からはログアウトされました。</p>
    <div class="actions">
      <a class="button" href="/menu">
        メニューに戻る
      </a>
    </div>
  </Layout>
);

// ---- ご利用料金の確認 -------------------------------------------------------------------------

export interface MonthRow {
  readonly month: Month;
  readonly provisional: boolean;
  readonly figures: CategoryFigures;
  /** 電報明細: the month's telegram total, apart from the call figures. */
  readonly telegrams: Money;
  /** The newest file of each kind for the month, if any (its state picks the button: 作成 / 作成中 / ダウンロード). */
  readonly files: Partial<Record<ExportKind, ExportJob>>;
}

/** 【10月01日～10月31日】, allowed to wrap only after the ～ (a narrow column, never a date cut in two). */
const PeriodText: FC<{ month: Month }> = ({ month }) => {
  const [from, to] = periodJa(month).split('～');
  return (
    <>
      {from}～<wbr />
      {to}
    </>
  );
};

/** What a month's CSV file allows now (SPEC §5): make one, wait for it, or download it until it expires. */
export type FileState = { readonly state: 'none' } | { readonly state: 'pending'; readonly job: ExportJob } | { readonly state: 'ready'; readonly job: ExportJob };

export function fileStateOf(job: ExportJob | undefined, now: Date): FileState {
  if (!job || job.status === 'failed' || isExpired(job, now)) return { state: 'none' };
  return job.status === 'pending' ? { state: 'pending', job } : { state: 'ready', job };
}

const Disabled: FC<{ label: string }> = ({ label }) => (
  <span class="button small secondary" aria-disabled="true">
    {label}
  </span>
);

/** 画面に表示, then the file's one action: 作成 with no file, 作成中 while it is made, ダウンロード (with 保存期限) once ready. */
const FileButtons: FC<{ month: Month; kind: ExportKind; showHref: string; file: FileState; blackout: boolean }> = ({ month, kind, showHref, file, blackout }) => {
  const label = file.state === 'ready' ? 'ダウンロード' : file.state === 'pending' ? '作成中' : '作成';
  return (
    <>
      <div class="buttons" role="group" aria-label={`${monthJa(month)}分 ${FILE_LABELS[kind]}`}>
        <a class="button small" href={showHref}>
          画面に表示
        </a>
        {blackout ? (
          <Disabled label={label} />
        ) : file.state === 'ready' ? (
          <a class="button small secondary" href={paths.exportFile(file.job.id)} download>
            ダウンロード
          </a>
        ) : file.state === 'pending' ? (
          <a class="button small secondary pending" href={paths.exportStatus(file.job.id)} aria-label="作成中（状況を表示）">
            作成中
          </a>
        ) : (
          <a class="button small secondary" href={paths.newExport(month, kind)}>
            作成
          </a>
        )}
      </div>
      {file.state === 'ready' ? <span class="hint expiry">保存期限 {shortDateTimeJa(file.job.expiresAt)}</span> : null}
    </>
  );
};

export const ChargesPage: FC<{ menu: Menu; months: readonly MonthRow[]; blackout: boolean; now: Date }> = ({ menu, months, blackout, now }) => (
  <Layout title="ご利用料金の確認" menu={{ ...menu, current: 'charges' }}>
    {blackout ? (
      <p class="alert" role="alert">
        {BLACKOUT_JA}
      </p>
    ) : null}
    <p>前月分を含め過去4カ月分のご利用料金（通常料金）を表示しています。当月分は集計中の速報です。</p>
    <Region label="月別ご利用料金">
      <table class="stacked monthly">
        <caption>月別ご利用料金</caption>
        <thead>
          <tr>
            <th scope="col">ご利用年月</th>
            <th scope="col">
              ご利用<wbr />
              料金合計
            </th>
            <th scope="col">国内通話</th>
            <th scope="col">国際通話</th>
            <th scope="col">
              携帯/PHS<wbr />
              通話
            </th>
            <th scope="col">
              電話番号別<wbr />
              ご利用料金
            </th>
            <th scope="col">{FILE_LABELS.calls}</th>
            <th scope="col">電報明細</th>
            <th scope="col">ご利用期間</th>
          </tr>
        </thead>
        <tbody>
          {months.map((m) => (
            <tr data-month={m.month}>
              <th scope="row">
                {monthJa(m.month)}分{m.provisional ? <span class="provisional">（速報・集計中）</span> : null}
              </th>
              <td class="num" data-label="ご利用料金合計">
                {wholeYenJa(m.figures.total)}
              </td>
              <td class="num" data-label="国内通話">
                {wholeYenJa(m.figures.domestic)}
              </td>
              <td class="num" data-label="国際通話">
                {wholeYenJa(m.figures.international)}
              </td>
              <td class="num" data-label="携帯/PHS通話">
                {wholeYenJa(m.figures.mobile)}
              </td>
              <td data-label={FILE_LABELS.numbers}>
                <FileButtons month={m.month} kind="numbers" showHref={paths.numbers(m.month)} file={fileStateOf(m.files.numbers, now)} blackout={blackout} />
              </td>
              <td data-label={FILE_LABELS.calls}>
                <FileButtons month={m.month} kind="calls" showHref={paths.chooseCalls(m.month)} file={fileStateOf(m.files.calls, now)} blackout={blackout} />
              </td>
              <td data-label="電報明細">
                <div class="buttons">
                  <span class="amount">{wholeYenJa(m.telegrams)}</span>
                  <a class="button small" href={paths.telegrams(m.month)} aria-label={`${monthJa(m.month)}分 電報明細を画面に表示`}>
                    画面に表示
                  </a>
                </div>
              </td>
              <td class="period" data-label="ご利用期間">
                <PeriodText month={m.month} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Region>
    <ul class="notes">
      <li>※ご利用料金には消費税は含まれていません。</li>
      <li>※1円未満は切り捨てて表示しています。</li>
      <li>※電報料金はご利用料金合計に含まれていません（「電報明細」欄に別に表示しています）。</li>
      <li>※月をまたがって通話された場合は、翌月のご請求となります。</li>
      <li>※表示は通常料金です。無料となる通話（無料呼）は、実際のご請求では0円となります。</li>
      <li>※CSVファイルの「作成」には数分かかります。作成が終わると「ダウンロード」に変わります。{RETENTION_JA}</li>
      <li>※{BLACKOUT_JA}</li>
    </ul>
  </Layout>
);

// ---- 電話番号別ご利用料金 ---------------------------------------------------------------------

const ShowLink: FC<{ href: string; what: string }> = ({ href, what }) => (
  <a href={href} aria-label={`${what}の明細を表示`}>
    表示
  </a>
);

const BackToCharges: FC = () => (
  <div class="actions">
    <a class="button secondary" href="/charges">
      ご利用料金の確認へ戻る
    </a>
  </div>
);

export const NumbersPage: FC<{ menu: Menu; month: Month; numbers: readonly NumberCharges[] }> = ({ menu, month, numbers }) => (
  <Layout title="電話番号別ご利用料金" menu={{ ...menu, current: 'charges' }}>
    <p>
      {monthJa(month)}分 {periodJa(month)}
    </p>
    {numbers.length === 0 ? (
      <p>この月のご利用はありません。</p>
    ) : (
      <Region label="電話番号別ご利用料金">
        <table class="stacked">
          <caption>電話番号別ご利用料金（{monthJa(month)}分）</caption>
          <thead>
            <tr>
              <th scope="col">ご利用電話番号</th>
              <th scope="col">
                ご利用<wbr />
                料金合計
              </th>
              {CATEGORIES.map((cat) => (
                <th scope="col">{CATEGORY_LABELS[cat]}</th>
              ))}
              <th scope="col">
                携帯/PHS<wbr />
                通話
              </th>
            </tr>
          </thead>
          <tbody>
            {numbers.map((n) => (
              <tr data-number={n.number}>
                <th scope="row">{n.number}</th>
                <td class="num" data-label="ご利用料金合計">
                  {yenJa(n.normal.total)} <ShowLink href={paths.calls(month, n.number)} what={`${n.number} 全通話`} />
                </td>
                {CATEGORIES.map((cat) => (
                  <td class="num" data-label={CATEGORY_LABELS[cat]}>
                    {yenJa(n.normal[cat])} <ShowLink href={paths.calls(month, n.number, cat)} what={`${n.number} ${CATEGORY_LABELS[cat]}`} />
                  </td>
                ))}
                <td class="num" data-label="携帯/PHS通話">
                  {yenJa(n.normal.mobile)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Region>
    )}
    <ul class="notes">
      <li>※金額は消費税を含まない通常料金です。</li>
      <li>
        ※電報料金は含まれていません。<a href={paths.telegrams(month)}>{monthJa(month)}分の電報明細</a>をご確認ください。
      </li>
    </ul>
    <BackToCharges />
  </Layout>
);

// ---- 前月以前分の調整 (SPEC §4.1) ----------------------------------------------------------------
// A row carried from a month already billed into the month shown: marked in its row, with a note
// that says what such rows are. The note stands above the table, where the customer reads first.

/** `前月以前分の調整` and `2017年11月分・訂正` under it. */
const AdjustmentMark: FC<{ adjustment: Adjustment | TelegramAdjustment; telegram?: boolean }> = ({ adjustment, telegram }) => (
  <>
    <span class="adjustment-tag">{ADJUSTMENT_LABEL_JA}</span>
    <span class="adjustment-what">
      {monthJa(adjustment.month)}分・{telegram && adjustment.kind === 'late' ? '遅れて届いた電報' : ADJUSTMENT_KIND_JA[adjustment.kind]}
    </span>
  </>
);

export const CALL_ADJUSTMENT_NOTE =
  '「前月以前分の調整」と表示された明細は、すでにご請求済みの月のご利用分です。ご請求後に届いた通話や、通話料金の訂正・取消を、この月のご請求で調整しています。訂正・取消の金額は元の料金との差額で、マイナスの金額は減額です。通話開始日時は元の通話の日時です。';

export const TELEGRAM_ADJUSTMENT_NOTE =
  '「前月以前分の調整」と表示された電報は、すでにご請求済みの月のご利用分です。ご請求後に明細が届いたため、この月のご請求に含めています。ご利用日は元の日付です。';

const AdjustmentNote: FC<{ text: string }> = ({ text }) => (
  <p class="adjustment-note" id="adjustment-note">
    ※{text}
  </p>
);

// ---- 電報明細 ---------------------------------------------------------------------------------

export const TelegramsPage: FC<{ menu: Menu; month: Month; telegrams: readonly Telegram[] }> = ({ menu, month, telegrams }) => (
  <Layout title="電報明細" menu={{ ...menu, current: 'charges' }}>
    <p>
      {monthJa(month)}分 {periodJa(month)}
    </p>
    <table class="kv sum">
      <tbody>
        <tr>
          <th scope="row">電報料金合計</th>
          <td class="num">{yenJa(Money.sum(telegrams.map((t) => t.charge)))}</td>
        </tr>
        <tr>
          <th scope="row">件数</th>
          <td class="num">{telegrams.length}件</td>
        </tr>
      </tbody>
    </table>
    {telegrams.some((t) => t.adjustment !== null) ? <AdjustmentNote text={TELEGRAM_ADJUSTMENT_NOTE} /> : null}
    {telegrams.length === 0 ? (
      <p>この月の電報のご利用はありません。</p>
    ) : (
      <Region label="電報明細">
        <table class="stacked">
          <caption>電報明細（{monthJa(month)}分）</caption>
          <thead>
            <tr>
              <th scope="col">受付番号</th>
              <th scope="col">ご利用日</th>
              <th scope="col">あて先</th>
              <th scope="col">種類</th>
              <th scope="col">料金</th>
            </tr>
          </thead>
          <tbody>
            {telegrams.map((t) => (
              <tr class={t.adjustment ? 'adjustment' : undefined}>
                {/* A telegram stored before receipt numbers has none until a file numbers it. */}
                <td data-label="受付番号">{t.receiptNumber ?? '—'}</td>
                <td data-label="ご利用日">
                  {t.adjustment ? <AdjustmentMark adjustment={t.adjustment} telegram /> : null}
                  {dateJa(t.date)}
                </td>
                <td data-label="あて先">{t.destination}</td>
                <td data-label="種類">{t.kind}</td>
                <td class="num" data-label="料金">
                  {yenJa(t.charge)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </Region>
    )}
    <ul class="notes">
      <li>※金額は消費税を含みません。電報料金は、ご利用料金合計（通話料金）に含まれていません。</li>
    </ul>
    <BackToCharges />
  </Layout>
);

// ---- 通話明細: choosing the number ------------------------------------------------------------

export const CallsChooserPage: FC<{ menu: Menu; month: Month; numbers: readonly NumberCharges[] }> = ({ menu, month, numbers }) => (
  <Layout title="通話明細" menu={{ ...menu, current: 'charges' }}>
    <p>
      {monthJa(month)}分 {periodJa(month)}
    </p>
    {numbers.length === 0 ? (
      <p>この月のご利用はありません。</p>
    ) : (
      <>
        <p>明細を表示する電話番号と、通話の種類を選んでください。</p>
        <form class="stack" method="get" action={paths.chooseCalls(month)}>
          <div class="field">
            <label for="number">ご利用電話番号</label>
            <select id="number" name="number">
              {numbers.map((n, i) => (
                <option value={n.number} selected={i === 0}>
                  {n.number}（{n.calls}件）
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="category">通話の種類</label>
            <select id="category" name="category">
              <option value="" selected>
                すべての通話
              </option>
              {CATEGORIES.map((cat) => (
                <option value={cat}>{CATEGORY_LABELS[cat]}</option>
              ))}
            </select>
          </div>
          <div class="actions">
            <button class="button" type="submit">
              画面に表示
            </button>
          </div>
        </form>
      </>
    )}
    <BackToCharges />
  </Layout>
);

// ---- ご利用明細 (10 per page) ------------------------------------------------------------------

/** The listing's head as the manual has it: ご利用金額合計 of all its calls (not the page's) and how many show per page. */
const CallsSummary: FC<{ details: CallDetailPage }> = ({ details }) => (
  <>
    <table class="kv sum">
      <tbody>
        <tr>
          <th scope="row">ご利用金額合計</th>
          <td class="num" data-sum>
            {yenJa(details.sum)}
          </td>
        </tr>
        <tr>
          <th scope="row">通話件数</th>
          <td class="num">全{details.total}件</td>
        </tr>
      </tbody>
    </table>
    <p class="hint">{details.pageSize}件/ページまで表示します</p>
  </>
);

/** Pages either side of the current one that get a link of their own. */
const PAGE_LINKS_AROUND = 2;

/**
 * The page links of a listing: the first, the last and a few around the current one, with a gap
 * where pages are left out. At most 2 × PAGE_LINKS_AROUND + 5 entries, whatever the listing's
 * size: a number with 200,000 calls would otherwise draw 20,000 links on every view.
 */
export function pageWindow(current: number, pages: number, around = PAGE_LINKS_AROUND): (number | 'gap')[] {
  const last = Math.max(1, pages);
  const from = Math.max(1, Math.min(current, last) - around);
  const to = Math.min(last, Math.max(current, 1) + around);
  const out: (number | 'gap')[] = [];
  if (from > 1) out.push(1);
  // A gap of one page is shown as that page: a link is no wider than the gap mark.
  if (from === 3) out.push(2);
  else if (from > 3) out.push('gap');
  for (let p = from; p <= to; p++) out.push(p);
  if (to === last - 2) out.push(last - 1);
  else if (to < last - 2) out.push('gap');
  if (to < last) out.push(last);
  return out;
}

export const CallsPage: FC<{ menu: Menu; month: Month; number: string; category: Category | undefined; details: CallDetailPage }> = ({ menu, month, number, category, details }) => {
  const pages = Math.max(1, Math.ceil(details.total / details.pageSize));
  const what = category ? CATEGORY_LABELS[category] : '全通話';
  return (
    <Layout title="ご利用明細" menu={{ ...menu, current: 'charges' }}>
      <p>
        {monthJa(month)}分 {periodJa(month)}　ご利用電話番号 {number}（{what}）
      </p>
      <CallsSummary details={details} />
      {details.items.some((c) => c.adjustment !== null) ? <AdjustmentNote text={CALL_ADJUSTMENT_NOTE} /> : null}
      {details.items.length === 0 ? (
        <p>表示する明細はありません。</p>
      ) : (
        <Region label="ご利用明細">
          <table class="stacked">
            <caption>
              ご利用明細 {details.total === 0 ? '' : `${(details.page - 1) * details.pageSize + 1}～${(details.page - 1) * details.pageSize + details.items.length}件目`}
            </caption>
            <thead>
              <tr>
                <th scope="col">番号</th>
                <th scope="col">通話開始日時</th>
                <th scope="col">通話先電話番号</th>
                <th scope="col">地域名</th>
                <th scope="col">通話時間</th>
                <th scope="col">通話料金</th>
              </tr>
            </thead>
            <tbody>
              {details.items.map((call) => (
                <tr class={call.adjustment ? 'adjustment' : undefined}>
                  <th scope="row">{call.seq}</th>
                  <td data-label="通話開始日時">
                    {call.adjustment ? <AdjustmentMark adjustment={call.adjustment} /> : null}
                    {callStartJa(call)}
                  </td>
                  <td data-label="通話先電話番号">{call.destination}</td>
                  <td data-label="地域名">{call.area}</td>
                  <td class="num" data-label="通話時間">
                    {durationJa(call)}
                  </td>
                  <td class="num" data-label="通話料金">
                    {yenJa(call.charge)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Region>
      )}
      {pages > 1 ? (
        <nav class="pager" aria-label="明細のページ">
          {details.page > 1 ? (
            <a href={paths.calls(month, number, category, details.page - 1)} rel="prev">
              前の10件
            </a>
          ) : null}
          {pageWindow(details.page, pages).map((p) =>
            p === 'gap' ? (
              <span class="gap" aria-hidden="true">
                …
              </span>
            ) : p === details.page ? (
              <span class="current" aria-current="page">
                {p}
              </span>
            ) : (
              <a href={paths.calls(month, number, category, p)} aria-label={`${p}ページ目`}>
                {p}
              </a>
            ),
          )}
          {details.page < pages ? (
            <a href={paths.calls(month, number, category, details.page + 1)} rel="next">
              次の10件
            </a>
          ) : null}
        </nav>
      ) : null}
      <div class="actions">
        <a class="button secondary" href={paths.numbers(month)}>
          電話番号別利用料金照会画面へ戻る
        </a>
        <a class="button secondary" href={paths.chooseCalls(month)}>
          電話番号を選び直す
        </a>
      </div>
    </Layout>
  );
};

// ---- ダウンロード (作成受付の確認 → 作成受付完了 → 作成中 → 明細ダウンロード) ------------------------

export const ExportConfirmPage: FC<{ menu: Menu; month: Month; kind: ExportKind }> = ({ menu, month, kind }) => (
  <Layout title="作成受付の確認" menu={{ ...menu, current: 'charges' }}>
    <p>以下の明細のCSVファイルを作成します。よろしければ「明細作成」を押してください。</p>
    <form class="stack" method="post" action={`/charges/${month}/exports`}>
      <CsrfField token={menu.csrf} />
      <input type="hidden" name="kind" value={kind} />
      <table class="kv">
        <tbody>
          <tr>
            <th scope="row">ご利用月</th>
            <td>
              {monthJa(month)}分 <span class="nowrap">{periodJa(month)}</span>
            </td>
          </tr>
          <tr>
            <th scope="row">明細の種類</th>
            <td>{FILE_LABELS[kind]}</td>
          </tr>
        </tbody>
      </table>
      <div class="field">
        <label for="encoding">文字コード</label>
        <select id="encoding" name="encoding" aria-describedby="encoding-hint">
          <option value="sjis" selected>
            Shift_JIS（Excelで開く場合）
          </option>
          <option value="utf-8">UTF-8（BOM付き）</option>
        </select>
        <p class="hint" id="encoding-hint">
          {CREATION_TAKES_JA}
          {RETENTION_JA}
        </p>
      </div>
      <div class="actions">
        <button class="button" type="submit">
          明細作成
        </button>
        <a class="button secondary" href="/charges">
          ご利用料金の確認へ戻る
        </a>
      </div>
    </form>
  </Layout>
);

export const ExportAcceptedPage: FC<{ menu: Menu; job: ExportJob }> = ({ menu, job }) => (
  <Layout title="作成受付完了" menu={{ ...menu, current: 'charges' }} refresh={{ seconds: 3, to: paths.exportStatus(job.id) }}>
    <p class="done" role="status">
      {monthJa(job.month)}分 {FILE_LABELS[job.kind]}の作成を受け付けました。
    </p>
    <p>
      {CREATION_TAKES_JA}まもなくダウンロード画面に移動します。移動しない場合は、<a href={paths.exportStatus(job.id)}>ダウンロード画面へ</a>進んでください。
    </p>
  </Layout>
);

/** One file's state: 作成中 with 画面を更新する, 明細ダウンロード with the 48-hour note, failed or expired. */
const ExportState: FC<{ job: ExportJob; now: Date; reloadHref: string }> = ({ job, now, reloadHref }) => {
  const expired = job.deleted || job.expiresAt.getTime() <= now.getTime();
  const head = `${monthJa(job.month)}分 ${FILE_LABELS[job.kind]}（${ENCODING_LABELS[job.encoding]}）`;
  if (expired) {
    return (
      <section aria-label={head}>
        <h2>{head}</h2>
        <p class="alert">作成したファイルの保存期間（48時間）が過ぎたため、ファイルは削除されました。もう一度作成してください。</p>
        <a class="button secondary" href={paths.newExport(job.month, job.kind)}>
          作成
        </a>
      </section>
    );
  }
  if (job.status === 'pending') {
    return (
      <section aria-label={head}>
        <h2>{head}</h2>
        <p class="info" role="status">
          ただいま作成中です。{CREATION_TAKES_JA}しばらくしてから画面を更新してください。
        </p>
        <a class="button" href={reloadHref}>
          画面を更新する(リロード)
        </a>
      </section>
    );
  }
  if (job.status === 'failed') {
    return (
      <section aria-label={head}>
        <h2>{head}</h2>
        <p class="alert">ファイルを作成できませんでした。{job.error ? `（${job.error}）` : ''}お手数ですが、もう一度作成してください。</p>
        <a class="button secondary" href={paths.newExport(job.month, job.kind)}>
          作成
        </a>
      </section>
    );
  }
  return (
    <section aria-label={head}>
      <h2>{head}</h2>
      <p class="done">作成が完了しました。「明細ダウンロード」を押してファイルを保存してください。</p>
      <a class="button" href={paths.exportFile(job.id)} download>
        明細ダウンロード
      </a>
      <p class="hint">
        作成日時 {dateTimeJa(job.readyAt ?? job.createdAt)}　保存期限 {dateTimeJa(job.expiresAt)}
      </p>
    </section>
  );
};

const DownloadNotes: FC = () => (
  <ul class="notes">
    <li>※{RETENTION_JA}</li>
    <li>※{BLACKOUT_JA}</li>
  </ul>
);

export const ExportStatusPage: FC<{ menu: Menu; job: ExportJob; now: Date }> = ({ menu, job, now }) => (
  <Layout title="明細ダウンロード" menu={{ ...menu, current: 'charges' }}>
    <ExportState job={job} now={now} reloadHref={paths.exportStatus(job.id)} />
    <DownloadNotes />
    <div class="actions">
      <a class="button secondary" href="/charges">
        ご利用料金の確認へ戻る
      </a>
    </div>
  </Layout>
);

export const DownloadsPage: FC<{ menu: Menu; month: Month; jobs: readonly ExportJob[]; now: Date }> = ({ menu, month, jobs, now }) => (
  <Layout title="明細ダウンロード" menu={{ ...menu, current: 'charges' }}>
    <p>
      {monthJa(month)}分 {periodJa(month)}
    </p>
    {(['numbers', 'calls'] as const).map((kind) => {
      const job = jobs.find((j) => j.kind === kind);
      if (job) return <ExportState job={job} now={now} reloadHref={paths.downloads(month)} />;
      return (
        <section aria-label={FILE_LABELS[kind]}>
          <h2>
            {monthJa(month)}分 {FILE_LABELS[kind]}
          </h2>
          <p>ファイルはまだ作成されていません。「作成」を押してください。</p>
          <a class="button secondary" href={paths.newExport(month, kind)}>
            作成
          </a>
        </section>
      );
    })}
    <DownloadNotes />
    <div class="actions">
      <a class="button secondary" href="/charges">
        ご利用料金の確認へ戻る
      </a>
    </div>
  </Layout>
);

// ---- errors ---------------------------------------------------------------------------------------

export const ErrorPage: FC<{ menu?: Menu; title: string; text: string }> = ({ menu, title, text }) => (
  <Layout title={title} {...(menu ? { menu } : {})}>
    <p class="alert" role="alert">
      {text}
    </p>
    <div class="actions">
      {menu ? (
        <a class="button secondary" href="/menu">
          メニューに戻る
        </a>
      ) : (
        <a class="button secondary" href="/login">
          ログイン画面へ
        </a>
      )}
    </div>
  </Layout>
);
