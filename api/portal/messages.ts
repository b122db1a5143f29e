// The portal's Japanese for the API's codes (STYLE §8: a broken rule is a code the portal translates).
import { LOCKOUT_MINUTES, MAX_FAILED_ATTEMPTS } from '../../projections/credentials.ts';
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, type PasswordRuleCode } from '../../domain/password.ts';

export type PasswordField = 'currentPassword' | 'newPassword' | 'newPasswordConfirmation';

/** Each broken SPEC §2 rule, in Japanese, and the field it is shown next to. */
export const PASSWORD_PROBLEMS: Record<PasswordRuleCode | 'CURRENT_PASSWORD_WRONG', { field: PasswordField; text: string }> = {
  CURRENT_PASSWORD_WRONG: { field: 'currentPassword', text: '現在のセルフパスワードが正しくありません。' },
  PASSWORD_SAME_AS_SELF_ID: { field: 'newPassword', text: 'セルフIDと同じ文字列は、セルフパスワードに設定できません。' },
  PASSWORD_LENGTH: { field: 'newPassword', text: `${PASSWORD_MIN_LENGTH}文字以上${PASSWORD_MAX_LENGTH}文字以内で入力してください。` },
  PASSWORD_CHARACTERS: { field: 'newPassword', text: '半角英数字（A～Z、a～z、0～9）のみで入力してください。全角文字・記号・空白は使えません。' },
  PASSWORD_LETTER_AND_DIGIT: { field: 'newPassword', text: '英字と数字を、それぞれ1文字以上含めてください。' },
  PASSWORD_CONFIRMATION_MISMATCH: { field: 'newPasswordConfirmation', text: '確認のため入力したセルフパスワードが、新しいセルフパスワードと一致しません。' },
};

export const PASSWORD_RULES: readonly string[] = [
  `${PASSWORD_MIN_LENGTH}文字以上${PASSWORD_MAX_LENGTH}文字以内の半角英数字`,
  '英字と数字をそれぞれ1文字以上含める',
  '大文字と小文字は区別されます',
  'セルフIDと同じ文字列は設定できません',
  '確認のため、新しいセルフパスワードを2回入力してください',
];

export const LOGIN_WRONG = 'セルフIDまたはセルフパスワードが正しくありません。';
export const LOGIN_LOCK_NOTE = `セルフパスワードを${MAX_FAILED_ATTEMPTS}回続けて間違えると、${LOCKOUT_MINUTES}分間ログインできなくなります。`;
/** The wrong guess after which one more locks the self ID. */
export const LOGIN_LAST_TRY = `${LOGIN_WRONG}あと1回間違えると、${LOCKOUT_MINUTES}分間ログインできなくなります。`;
export const loginLocked = (until: string) =>
  `ログインに${MAX_FAILED_ATTEMPTS}回続けて失敗したため、このセルフIDは${LOCKOUT_MINUTES}分間ログインできません。${until}以降に、もう一度お試しください。`;

/** A password check that got no turn (api/password-checks.ts): nothing was checked nor counted. */
export const LOGIN_BUSY = 'ただいまログインが混み合っています。しばらくしてから、もう一度お試しください。';
export const PASSWORD_CHECK_BUSY = 'ただいま混み合っています。セルフパスワードは変更されていません。しばらくしてから、もう一度お試しください。';

/** The current password of a change counts toward the same lockout as logins. */
export const CURRENT_PASSWORD_LAST_TRY = `あと1回間違えると、${LOCKOUT_MINUTES}分間ログインとセルフパスワードの変更ができなくなります。`;
export const passwordLocked = (until: string) =>
  `セルフパスワードを${MAX_FAILED_ATTEMPTS}回続けて間違えたため、${LOCKOUT_MINUTES}分間ログインとセルフパスワードの変更ができません。${until}以降に、もう一度お試しください。`;

export const BLACKOUT_JA = '毎月1日および末日は、CSVファイルの作成・ダウンロードはできません。翌日以降にご利用ください。';
export const RETENTION_JA = '作成したファイルは48時間保存されます。48時間を過ぎるとファイルは削除されますので、もう一度作成してください。';
export const CREATION_TAKES_JA = '作成に数分かかります。';

/** The page shown for an API error code (another contract's data is "not found", like the API). */
export function errorPageOf(status: number, code: string): { title: string; text: string } {
  switch (code) {
    case 'EXPORT_UNAVAILABLE_TODAY':
      return { title: 'ただいまご利用いただけません', text: BLACKOUT_JA };
    case 'EXPORT_EXPIRED':
      return { title: 'ファイルの保存期間が過ぎました', text: '作成したファイルの保存期間（48時間）が過ぎたため、ファイルは削除されました。もう一度作成してください。' };
    case 'EXPORT_FAILED':
      return { title: 'ファイルを作成できませんでした', text: 'ファイルを作成できませんでした。お手数ですが、もう一度作成してください。' };
    case 'TOO_MANY_EXPORTS':
      return { title: 'ただいま作成を受け付けられません', text: 'このご契約では、作成中または保存中のファイルが上限に達しています。しばらくしてから、もう一度お試しください。' };
    case 'TOO_MANY_REQUESTS':
    case 'TOO_MANY_DOWNLOADS':
    case 'DOWNLOADS_BUSY':
      return { title: 'ただいまダウンロードできません', text: 'ダウンロードが混み合っています。しばらくしてから、もう一度お試しください。' };
    case 'CSRF':
      return { title: '操作を受け付けられませんでした', text: '画面の有効期限が切れたか、不正な送信です。画面を開き直してから、もう一度操作してください。' };
  }
  if (status === 404) return { title: 'ページが見つかりません', text: 'お探しのページは見つかりません。ご利用料金は、前月分を含め過去4カ月分と当月分を表示できます。' };
  if (status === 413) return { title: '操作を受け付けられませんでした', text: '送信された内容が大きすぎます。' };
  if (status === 400) return { title: '操作を受け付けられませんでした', text: '入力内容を確認してください。' };
  return { title: 'エラーが発生しました', text: 'ただいまご利用いただけません。しばらくしてから、もう一度お試しください。' };
}
