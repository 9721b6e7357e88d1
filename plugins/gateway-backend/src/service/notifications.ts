import { parseEntityRef } from '@backstage/catalog-model';
import type { NotificationSendOptions } from '@backstage/plugin-notifications-node';
import type { GatewayKeyRequest } from '@quarterdeck/plugin-gateway-common';
import type { GatewayStore } from '../database/GatewayStore';
import type { OutboxMessage } from '../database/OutboxStore';
import { maskKey } from '../keys/keyMaterial';

/*
 * Backstage notifications for the people a key's life concerns: an API's
 * owners when someone asks for access (their review queue), and the
 * watchers of every key request configured beside them
 * (`gateway.keyRequestWatchers`: platform admins who review across APIs),
 * with the request's outcome updating what they were told; a component's
 * owners when their request is decided or expires unreviewed, when one of
 * their keys is rotated or revoked, and once before a key expires. Recipients
 * are entity refs; the notifications backend resolves an API or a component
 * to its owner group's members. The one who acted is left out: they know.
 */

/** Topics, which a user can mute for the gateway in their notification settings. */
export const KEY_REQUEST_TOPIC = 'key requests';
export const KEY_TOPIC = 'keys';

/** An entity's name as its pages title it: `llm-chat`, or `ns/llm-chat` outside the default namespace. */
function nameOf(ref: string): string {
  const { namespace, name } = parseEntityRef(ref);
  return namespace === 'default' ? name : `${namespace}/${name}`;
}

/** The entity's Gateway tab, where whatever a notification tells of can be acted on. */
function gatewayTab(ref: string): string {
  const { kind, namespace, name } = parseEntityRef(ref);
  return `/catalog/${namespace}/${kind.toLowerCase()}/${name}/gateway`;
}

const userName = (ref: string) => parseEntityRef(ref).name;

/** A key's expiry as its notifications say it. */
const utcMinute = (iso: string) => `${iso.replace('T', ' ').slice(0, 16)} UTC`;
const until = (expiresAt: string | undefined) => (expiresAt ? ` It works until ${utcMinute(expiresAt)}.` : '');

/**
 * One notification per request for each audience: a decision updates the
 * reviewers' "asks for access" in place. The backend keeps one notification
 * per user and scope, so the two audiences' scopes differ: someone both
 * reviewer and component owner (an admin asking for their own component)
 * keeps the component's news, which says who saw the secret, beside the
 * reviewers'.
 */
const requestScope = (id: string) => `gateway:key-request:${id}`;
const reviewScope = (id: string) => `gateway:key-request:${id}:review`;

/** Those who review a request: the API's owners (the backend resolves the API to them) and the configured watchers. */
const reviewers = (request: GatewayKeyRequest, watchers: readonly string[]) => (watchers.length > 0 ? [request.apiRef, ...watchers] : request.apiRef);

/** To the API's owners and the watchers: a component asks for access and waits for their review. */
export function keyRequested(request: GatewayKeyRequest, watchers: readonly string[] = []): NotificationSendOptions {
  return {
    recipients: { type: 'entity', entityRef: reviewers(request, watchers), excludeEntityRef: request.requestedBy },
    payload: {
      title: `${nameOf(request.componentRef)} asks for access to ${nameOf(request.apiRef)}`,
      description: `${userName(request.requestedBy)} asks for plan ${request.plan}; the request waits for your review until ${request.expiresAt.slice(0, 10)}. Why: ${request.justification}`,
      link: gatewayTab(request.apiRef),
      topic: KEY_REQUEST_TOPIC,
      scope: reviewScope(request.id),
    },
  };
}

/** To the component's owners and, updating what they were told of the request, the API's and the watchers: approved or denied. */
export function keyRequestDecided(request: GatewayKeyRequest, decision: { actor: string; publicId?: string; expiresAt?: string }, watchers: readonly string[] = []): NotificationSendOptions[] {
  const approved = request.status === 'approved';
  const outcome = approved ? 'approved' : 'denied';
  // The reason last, as written: it may end in any punctuation.
  const why = request.reviewReason ? ` Reason: ${request.reviewReason}` : '';
  const reviewer = userName(decision.actor);
  const forComponent = approved
    ? `${reviewer} approved plan ${request.plan}. The key ${maskKey(decision.publicId ?? '')} was shown once, to ${reviewer}, to hand over; rotate it on the Gateway tab for a secret only your team has seen.${until(decision.expiresAt)}${why}`
    : `${reviewer} denied plan ${request.plan}. You can ask again, for this plan or another.${why}`;
  return [
    {
      recipients: { type: 'entity', entityRef: request.componentRef, excludeEntityRef: decision.actor },
      payload: {
        title: `${nameOf(request.componentRef)}'s access to ${nameOf(request.apiRef)} was ${outcome}`,
        description: forComponent,
        link: gatewayTab(request.componentRef),
        topic: KEY_REQUEST_TOPIC,
        scope: requestScope(request.id),
        severity: approved ? 'normal' : 'high',
      },
    },
    {
      recipients: { type: 'entity', entityRef: reviewers(request, watchers), excludeEntityRef: decision.actor },
      payload: {
        title: `${nameOf(request.componentRef)}'s request for ${nameOf(request.apiRef)}: ${outcome} by ${reviewer}`,
        description: `Plan ${request.plan}.${why}`,
        link: gatewayTab(request.apiRef),
        topic: KEY_REQUEST_TOPIC,
        scope: reviewScope(request.id),
        severity: 'low',
      },
    },
  ];
}

/** To the component's owners and, updating what they were told, the API's and the watchers: no one reviewed the request in time. */
export function keyRequestExpired(request: GatewayKeyRequest, watchers: readonly string[] = []): NotificationSendOptions[] {
  return [
    {
      recipients: { type: 'entity', entityRef: request.componentRef },
      payload: {
        title: `${nameOf(request.componentRef)}'s request for ${nameOf(request.apiRef)} expired unreviewed`,
        description: `No owner of ${nameOf(request.apiRef)} approved or denied plan ${request.plan} by ${request.expiresAt.slice(0, 10)}. You can ask again.`,
        link: gatewayTab(request.componentRef),
        topic: KEY_REQUEST_TOPIC,
        scope: requestScope(request.id),
      },
    },
    {
      recipients: { type: 'entity', entityRef: reviewers(request, watchers) },
      payload: {
        title: `${nameOf(request.componentRef)}'s request for ${nameOf(request.apiRef)}: expired unreviewed`,
        description: `Plan ${request.plan}, asked by ${userName(request.requestedBy)}; no one decided by ${request.expiresAt.slice(0, 10)}.`,
        link: gatewayTab(request.apiRef),
        topic: KEY_REQUEST_TOPIC,
        scope: reviewScope(request.id),
        severity: 'low',
      },
    },
  ];
}

interface KeyFacts {
  publicId: string;
  componentRef: string;
  apiRef: string;
}

/** To the component's owners: a key of theirs was rotated, and how long the old one still works. */
export function keyRotated(key: KeyFacts, change: { actor: string; newPublicId: string; graceUntil: string }): NotificationSendOptions {
  return {
    recipients: { type: 'entity', entityRef: key.componentRef, excludeEntityRef: change.actor },
    payload: {
      title: `${nameOf(key.componentRef)}'s key for ${nameOf(key.apiRef)} was rotated`,
      description: `${userName(change.actor)} replaced ${maskKey(key.publicId)} with ${maskKey(change.newPublicId)}; the old key works until ${change.graceUntil.replace('T', ' ').slice(0, 16)} UTC.`,
      link: gatewayTab(key.componentRef),
      topic: KEY_TOPIC,
    },
  };
}

/** To the component's owners: a key of theirs was revoked and calls with it fail now. */
export function keyRevoked(key: KeyFacts, change: { actor: string; reason?: string }): NotificationSendOptions {
  return {
    recipients: { type: 'entity', entityRef: key.componentRef, excludeEntityRef: change.actor },
    payload: {
      title: `${nameOf(key.componentRef)}'s key for ${nameOf(key.apiRef)} was revoked`,
      description: `${userName(change.actor)} revoked ${maskKey(key.publicId)}. Calls with it are refused now; ask for access again on the Gateway tab.${change.reason ? ` Reason: ${change.reason}` : ''}`,
      link: gatewayTab(key.componentRef),
      topic: KEY_TOPIC,
      severity: 'high',
    },
  };
}

/** To the component's owners, once: a key expires soon, and rotating it will not help (a rotation keeps the expiry). */
export function keyExpiresSoon(key: KeyFacts & { expiresAt: string }): NotificationSendOptions {
  return {
    recipients: { type: 'entity', entityRef: key.componentRef },
    payload: {
      title: `${nameOf(key.componentRef)}'s key for ${nameOf(key.apiRef)} expires on ${key.expiresAt.slice(0, 10)}`,
      description: `${maskKey(key.publicId)} stops working at ${utcMinute(key.expiresAt)}. A rotation keeps its expiry: to go on calling ${nameOf(key.apiRef)}, ask for access again on the Gateway tab.`,
      link: gatewayTab(key.componentRef),
      topic: KEY_TOPIC,
      severity: 'high',
    },
  };
}

/** Notifications as a change's outbox messages: sent once the change has committed (service/outbox.ts). */
export const asMessages = (notifications: readonly NotificationSendOptions[]): OutboxMessage[] =>
  notifications.map(notification => ({ kind: 'notification', notification }));

/**
 * Tells the owners of the keys that expire within `withinMs` of `at`, each
 * key once: the store marks it told and queues the notification in one
 * transaction. Returns what it queued; the caller flushes the outbox.
 */
export async function warnOfExpiringKeys(store: Pick<GatewayStore, 'claimExpiringKeys'>, at: Date, withinMs: number): Promise<NotificationSendOptions[]> {
  let told: NotificationSendOptions[] = [];
  await store.claimExpiringKeys(at, new Date(at.getTime() + withinMs), keys => {
    // A product is removed only once none of its keys works; one removed since the claim took its keys with it.
    told = keys.flatMap(key => (key.apiRef ? [keyExpiresSoon({ ...key, apiRef: key.apiRef, expiresAt: key.expiresAt! })] : []));
    return asMessages(told);
  });
  return told;
}

/**
 * Marks the requests past their expiry expired and tells their owners: before
 * anything looks at a request's status, and on the plugin's sweep, so a
 * request no one looks at still ends, and is told of, on time. Returns what
 * it queued; the caller flushes the outbox.
 */
export async function expireKeyRequests(store: Pick<GatewayStore, 'expireKeyRequests'>, at: Date, watchers: readonly string[] = []): Promise<NotificationSendOptions[]> {
  let told: NotificationSendOptions[] = [];
  await store.expireKeyRequests(at, expired => {
    told = expired.flatMap(request => keyRequestExpired(request, watchers));
    return asMessages(told);
  });
  return told;
}
