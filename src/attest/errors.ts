/** What the attest module throws: statements that are not in-toto v1, unusable builder input. */
export type AttestErrorCode = 'STATEMENT_INVALID' | 'ATTEST_INPUT_INVALID';
