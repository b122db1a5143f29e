// Expected failures carry a domain code (STYLE §8): the API maps codes to statuses in one place,
// the CLI prints `FILE:LINE: FIELD: message`, the portal translates the code.

/**
 * Codes raised by the contract and number deciders and the command parser. Others may raise their
 * own codes through the same class; this list is what the contract domain promises.
 */
export type ContractErrorCode =
  | 'INVALID_COMMAND'
  | 'INVALID_CONTRACT_CODE'
  | 'INVALID_SELF_ID'
  | 'INVALID_DATE'
  | 'INVALID_TIMESTAMP'
  | 'INVALID_NUMBER'
  | 'INVALID_CHANNELS'
  | 'INVALID_DNS'
  | 'INVALID_CONNECTION_TYPE'
  | 'INVALID_OPTION_PARAMETER'
  | 'UNKNOWN_OPTION'
  | 'CONTRACT_NOT_FOUND'
  | 'CONTRACT_ALREADY_OPEN'
  | 'DATE_BEFORE_CONTRACT_START'
  | 'NUMBER_ALREADY_HELD'
  | 'NUMBER_NOT_ON_CONTRACT'
  | 'BASIC_NUMBER_NOT_REMOVABLE'
  | 'REPRESENTATIVE_NUMBER_REQUIRED'
  | 'REPRESENTATIVE_NUMBER_NOT_HELD'
  | 'FREECALL_NUMBERS_REQUIRED'
  | 'OPTION_ALREADY_SUBSCRIBED'
  | 'OPTION_NOT_SUBSCRIBED';

export class DomainError extends Error {
  override readonly name = 'DomainError';

  constructor(
    /** A stable machine code, e.g. `NUMBER_ALREADY_HELD`. */
    readonly code: ContractErrorCode | (string & {}),
    message: string,
    /** The input field at fault, when there is one (`effectiveFrom`, `freecallNumbers[1]`). */
    readonly field?: string,
  ) {
    super(message);
  }
}

export function isDomainError(error: unknown): error is DomainError {
  return error instanceof DomainError;
}
