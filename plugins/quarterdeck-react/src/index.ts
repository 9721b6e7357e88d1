/** React helpers shared by Quarterdeck's frontend plugins (argo, gateway). */
export { usePolling } from './usePolling';
export { errorMessage } from './errorMessage';
export { formatDateTime } from './formatDateTime';
export { permissionWhy, type PermissionCheck } from './permissionWhy';
