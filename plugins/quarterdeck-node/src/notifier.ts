import type { LoggerService } from '@backstage/backend-plugin-api';
import type { NotificationSendOptions, NotificationService } from '@backstage/plugin-notifications-node';

export type Notify = (...notifications: NotificationSendOptions[]) => void;

/**
 * Sends notifications after the change they tell of is committed, without
 * holding up the answer to the user: a notification is news, not state, so
 * one that fails (the notifications backend not installed, say) is logged and
 * nothing is undone.
 */
export function notifier(service: NotificationService | undefined, logger: LoggerService | undefined): Notify {
  return (...notifications) => {
    if (!service) return;
    for (const notification of notifications) {
      service.send(notification).catch(error => logger?.warn(`Could not send the notification "${notification.payload.title}": ${error}`));
    }
  };
}
