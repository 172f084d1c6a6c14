/** What the policy module throws: a policy file that cannot be read as a policy. */
export type PolicyErrorCode = 'POLICY_INVALID' | 'POLICY_UNSUPPORTED';
