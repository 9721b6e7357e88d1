import { errorMessage } from './errorMessage';

/** What `usePermission` answers: `error` when the check itself failed (`allowed` is then false too). */
export type PermissionCheck = { allowed: boolean; loading: boolean; error?: Error };

/**
 * Why an action that needs a permission is disabled: `denied` when the user
 * lacks it; a check that failed says so, as it is no answer (telling a user
 * who has the permission that they lack it would send them to ask for it).
 * Undefined when the user may act.
 */
export function permissionWhy(check: PermissionCheck, denied: string): string | undefined {
  if (check.loading) return 'Checking your permissions…';
  if (check.error) return `Could not check your permissions (${errorMessage(check.error)}): try again later.`;
  return check.allowed ? undefined : denied;
}
