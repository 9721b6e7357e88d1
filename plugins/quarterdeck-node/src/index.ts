/**
 * Backend helpers shared by Quarterdeck's backend plugins (`argo`,
 * `gateway`), so each is done one way.
 */
export { jsonBodies } from './jsonBodies';
export { refuseOtherMethods } from './otherMethods';
export { formatAuditCursor, parseAuditCursor, type AuditCursor } from './auditCursor';
export { notifier, type Notify } from './notifier';
