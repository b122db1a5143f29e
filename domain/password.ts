// SPEC §2 セルフパスワード: the rules a new self password must meet. Pure: the API checks the current
// password (a hash comparison) itself; this file knows only the rules.

export type PasswordRuleCode =
  | 'PASSWORD_SAME_AS_SELF_ID'
  | 'PASSWORD_LENGTH'
  | 'PASSWORD_CHARACTERS'
  | 'PASSWORD_LETTER_AND_DIGIT'
  | 'PASSWORD_CONFIRMATION_MISMATCH';

export interface PasswordRuleViolation {
  readonly code: PasswordRuleCode;
  readonly message: string;
}

export const PASSWORD_MIN_LENGTH = 4;
export const PASSWORD_MAX_LENGTH = 8;

const HALF_WIDTH_ALNUM = /^[A-Za-z0-9]*$/;

/**
 * Every rule the new password breaks, most specific first (the API answers with the first code and
 * lists them all). An empty list means the password may be set. Comparisons are case-sensitive.
 */
export function checkNewPassword(input: { selfId: string; newPassword: string; newPasswordConfirmation: string }): PasswordRuleViolation[] {
  const { selfId, newPassword, newPasswordConfirmation } = input;
  const out: PasswordRuleViolation[] = [];
  // A self ID is 10 characters, so this rule alone never decides; it comes first because its
  // message says more than "too long" would.
  if (newPassword === selfId) {
    out.push({ code: 'PASSWORD_SAME_AS_SELF_ID', message: 'the new password must differ from the self ID (セルフID)' });
  }
  // Characters, not UTF-16 units: a full-width or astral character counts once.
  const length = [...newPassword].length;
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    out.push({ code: 'PASSWORD_LENGTH', message: `the new password must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters long, got ${length}` });
  }
  if (!HALF_WIDTH_ALNUM.test(newPassword)) {
    out.push({ code: 'PASSWORD_CHARACTERS', message: 'the new password may contain only half-width letters and digits (半角英数字)' });
  } else if (!/[A-Za-z]/.test(newPassword) || !/[0-9]/.test(newPassword)) {
    out.push({ code: 'PASSWORD_LETTER_AND_DIGIT', message: 'the new password must contain at least one letter and at least one digit' });
  }
  if (newPassword !== newPasswordConfirmation) {
    out.push({ code: 'PASSWORD_CONFIRMATION_MISMATCH', message: 'the new password and its confirmation differ' });
  }
  return out;
}
