import type { LoggerService } from '@backstage/backend-plugin-api';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { AsyncQueue } from '../../asyncQueue';
import { ObjectNotFoundError } from '../../errors';
import type { LogOptions } from '../../types';
import type { LocalChange, LocalCluster, PodLogSource } from '../LocalCluster';
import { now, refOf, type Pod } from './shared';

/** A pod asks to run its containers on the host with this annotation (and the cluster must allow it). */
export const EXECUTE_ANNOTATION = 'quarterdeck.io/execute';
/** A script's source (Argo's `script.source`): written to a file whose path is appended to the args. */
export const SCRIPT_SOURCE_ANNOTATION = 'quarterdeck.io/script-source';
/** Where a host-executed pod's scratch directory is, for output files. */
export const SCRATCH_DIR_ANNOTATION = 'quarterdeck.io/scratch-dir';

export const LOCAL_NODE_NAME = 'local-node';
const MAX_LOG_LINES = 10_000;

export interface KubeletOptions {
  /** How long a pod takes from Pending to Running and Ready. */
  readyDelayMs?: number;
  /** Allow pods annotated `quarterdeck.io/execute: host` to run their command on this machine. */
  execute?: boolean;
  /** Where host-executed pods get their scratch directories. */
  scratchRoot?: string;
  logger?: LoggerService;
}

interface ContainerLog {
  lines: string[];
  followers: Set<AsyncQueue<string>>;
  done: boolean;
}

/**
 * The local driver's kubelet for one node. Pods are bound to the node, go
 * Pending → Running and Ready after `readyDelayMs`, and pods that are meant
 * to finish (restartPolicy Never or OnFailure) succeed one delay later, like
 * kwok's fake nodes. A pod annotated `quarterdeck.io/execute: host` on a
 * cluster with `execute` on instead runs its first container's command and
 * args (and a script's source) on the host in a scratch directory with the
 * pod's env; its output is the container log and its exit code decides
 * Succeeded or Failed. That runs arbitrary commands as the backend's user:
 * only for trusted, single-user setups.
 */
/** A pod meant to end (a Job's, an analysis's), not to run until deleted. */
const finishes = (pod: Pod) => pod.spec.restartPolicy === 'Never' || pod.spec.restartPolicy === 'OnFailure';

export class LocalKubelet implements PodLogSource {
  private readonly started = new Map<string, NodeJS.Timeout>();
  private readonly processes = new Map<string, ChildProcess>();
  private readonly logs = new Map<string, ContainerLog>();
  private nextIp = 2;
  private unsubscribe?: () => void;
  private readonly readyDelayMs: number;

  constructor(private readonly cluster: LocalCluster, private readonly options: KubeletOptions = {}) {
    this.readyDelayMs = options.readyDelayMs ?? 1000;
  }

  start() {
    this.cluster.setPodLogSource(this);
    this.unsubscribe = this.cluster.onChange(change => this.observe(change));
    for (const o of this.cluster.allObjects()) {
      if (o.kind !== 'Pod' || o.apiVersion !== 'v1') continue;
      const pod = o as Pod;
      if (pod.status?.phase === 'Running' && !pod.metadata.deletionTimestamp) {
        // A host process cannot survive a restart of the backend.
        if (this.wantsHost(pod)) this.finish(pod, 1, 'the node restarted while the container ran').catch(() => undefined);
        // A pod meant to finish had its finish timer in the process that stopped: it gets one here, or it runs for ever
        // (and the Job, and the AnalysisRun waiting on it, with it).
        else if (finishes(pod)) this.finishLater(pod);
        continue;
      }
      this.observe({ type: 'ADDED', object: o });
    }
  }

  stop() {
    this.unsubscribe?.();
    for (const t of this.started.values()) clearTimeout(t);
    for (const p of this.processes.values()) p.kill('SIGKILL');
  }

  private observe({ type, object }: LocalChange) {
    if (object.kind !== 'Pod' || object.apiVersion !== 'v1') return;
    const pod = object as Pod;
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (type === 'DELETED' || pod.metadata.deletionTimestamp) {
      clearTimeout(this.started.get(key));
      this.started.delete(key);
      this.processes.get(key)?.kill('SIGTERM');
      // A pod gone is a log gone, as on a node: its followers end, and its lines are not kept for ever.
      if (type === 'DELETED') {
        for (const container of pod.spec.containers ?? []) {
          const log = this.logs.get(`${key}/${container.name}`);
          if (!log) continue;
          for (const f of log.followers) f.close();
          this.logs.delete(`${key}/${container.name}`);
        }
      }
      return;
    }
    const phase = pod.status?.phase;
    if (this.started.has(key) || phase === 'Running' || phase === 'Succeeded' || phase === 'Failed') return;
    // Bind first, then start after the delay, so the two status writes never race.
    this.started.set(key, setTimeout(() => undefined, 0));
    this.admit(pod, key).catch(error => {
      this.started.delete(key);
      if (!(error instanceof ObjectNotFoundError)) this.options.logger?.warn(`kubelet: pod ${key} failed to start: ${error}`);
    });
  }

  private async admit(pod: Pod, key: string) {
    let bound = pod;
    if (!pod.spec.nodeName) {
      bound = await this.cluster.patch<Pod>(refOf(pod), 'merge', { spec: { nodeName: LOCAL_NODE_NAME } }, { fieldManager: 'kube-scheduler' });
      bound = await this.cluster.patch<Pod>(refOf(bound), 'merge', {
        status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: now() }] },
      }, { subresource: 'status', fieldManager: 'kubelet' });
    }
    for (const c of bound.spec.containers) this.log(bound, c.name);
    if (!this.started.has(key)) return; // deleted meanwhile
    const timer = setTimeout(() => {
      this.run(bound).catch(error => this.options.logger?.warn(`kubelet: pod ${key} failed to start: ${error}`));
    }, this.readyDelayMs);
    timer.unref?.();
    this.started.set(key, timer);
  }

  private wantsHost(pod: Pod): boolean {
    return Boolean(this.options.execute) && pod.metadata.annotations?.[EXECUTE_ANNOTATION] === 'host';
  }

  private log(pod: Pod, container: string): ContainerLog {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}/${container}`;
    let log = this.logs.get(key);
    if (!log) {
      log = { lines: [], followers: new Set(), done: false };
      this.logs.set(key, log);
    }
    return log;
  }

  private append(log: ContainerLog, line: string) {
    log.lines.push(line);
    if (log.lines.length > MAX_LOG_LINES) log.lines.splice(0, log.lines.length - MAX_LOG_LINES);
    for (const f of log.followers) f.push(line);
  }

  private async running(pod: Pod, ip: string) {
    const time = now();
    return this.cluster.patch<Pod>(refOf(pod), 'merge', {
      status: {
        phase: 'Running',
        podIP: ip,
        podIPs: [{ ip }],
        hostIP: '127.0.0.1',
        startTime: time,
        conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map(type => ({ type, status: 'True', lastTransitionTime: time })),
        containerStatuses: pod.spec.containers.map(c => ({
          name: c.name,
          image: c.image,
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: time } },
        })),
      },
    }, { subresource: 'status', fieldManager: 'kubelet' });
  }

  private async finish(pod: Pod, exitCode: number, message?: string) {
    const time = now();
    const live = await this.cluster.get<Pod>(refOf(pod));
    if (!live || live.metadata.uid !== pod.metadata.uid) return;
    await this.cluster.patch(refOf(pod), 'merge', {
      status: {
        phase: exitCode === 0 ? 'Succeeded' : 'Failed',
        conditions: ['PodScheduled', 'Initialized'].map(type => ({ type, status: 'True', lastTransitionTime: time }))
          .concat(['ContainersReady', 'Ready'].map(type => ({ type, status: 'False', lastTransitionTime: time, reason: 'PodCompleted' } as any))),
        containerStatuses: pod.spec.containers.map(c => ({
          name: c.name,
          image: c.image,
          ready: false,
          started: false,
          restartCount: 0,
          state: {
            terminated: {
              exitCode,
              reason: exitCode === 0 ? 'Completed' : 'Error',
              ...(message ? { message } : {}),
              startedAt: live.status?.startTime ?? time,
              finishedAt: time,
            },
          },
        })),
      },
    }, { subresource: 'status', fieldManager: 'kubelet' });
  }

  private async run(pod: Pod) {
    const live = await this.cluster.get<Pod>(refOf(pod));
    if (!live || live.metadata.deletionTimestamp || live.metadata.uid !== pod.metadata.uid) return;
    const ip = `10.244.0.${this.nextIp++ % 250 || 2}`;
    await this.running(live, ip);
    if (this.wantsHost(live)) await this.execute(live);
    else if (finishes(live)) this.finishLater(live);
  }

  /** A pod that runs no process succeeds one delay after it runs, as on kwok's fake nodes. */
  private finishLater(pod: Pod) {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const timer = setTimeout(() => {
      this.started.delete(key);
      this.finish(pod, 0).catch(() => undefined);
    }, this.readyDelayMs);
    timer.unref?.();
    // Kept where a deletion finds it, and stop() clears it.
    this.started.set(key, timer);
    for (const c of pod.spec.containers) this.log(pod, c.name).done = true;
  }

  private async execute(pod: Pod) {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const container = pod.spec.containers[0];
    const log = this.log(pod, container.name);
    const root = this.options.scratchRoot ?? path.join(os.tmpdir(), 'quarterdeck-pods');
    fs.mkdirSync(root, { recursive: true });
    const scratch = fs.mkdtempSync(path.join(root, `${pod.metadata.namespace}-${pod.metadata.name}-`));
    await this.cluster.patch(refOf(pod), 'merge', { metadata: { annotations: { [SCRATCH_DIR_ANNOTATION]: scratch } } }, { fieldManager: 'kubelet' });
    const args = [...(container.command ?? []), ...(container.args ?? [])];
    const source = pod.metadata.annotations?.[SCRIPT_SOURCE_ANNOTATION];
    if (source !== undefined) {
      const file = path.join(scratch, 'script');
      fs.writeFileSync(file, source, { mode: 0o700 });
      args.push(file);
    }
    if (args.length === 0) {
      this.append(log, 'quarterdeck kubelet: the container has no command to run on the host');
      log.done = true;
      await this.finish(pod, 127, 'no command');
      return;
    }
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: scratch };
    for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    const child = spawn(args[0], args.slice(1), {
      cwd: container.workingDir && fs.existsSync(container.workingDir) ? container.workingDir : scratch,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.processes.set(key, child);
    const deadline = pod.spec.activeDeadlineSeconds
      ? setTimeout(() => child.kill('SIGKILL'), pod.spec.activeDeadlineSeconds * 1000)
      : undefined;
    let partial = { out: '', err: '' };
    // A character whose bytes are split between two reads is decoded whole.
    const decoders = { out: new StringDecoder('utf8'), err: new StringDecoder('utf8') };
    const onData = (stream: 'out' | 'err') => (chunk: Buffer) => {
      const text = partial[stream] + decoders[stream].write(chunk);
      const lines = text.split('\n');
      partial = { ...partial, [stream]: lines.pop() ?? '' };
      for (const line of lines) this.append(log, line);
    };
    child.stdout!.on('data', onData('out'));
    child.stderr!.on('data', onData('err'));
    const exitCode = await new Promise<number>(resolve => {
      child.on('error', error => {
        this.append(log, `quarterdeck kubelet: ${error.message}`);
        resolve(127);
      });
      child.on('close', (code, signal) => resolve(code ?? (signal ? 137 : 1)));
    });
    if (deadline) clearTimeout(deadline);
    for (const rest of [partial.out, partial.err]) if (rest) this.append(log, rest);
    log.done = true;
    for (const f of log.followers) f.close();
    this.processes.delete(key);
    await this.finish(pod, exitCode).catch(() => undefined);
  }

  async *read(namespace: string, pod: string, container: string | undefined, options: LogOptions): AsyncIterable<string> {
    const log = this.logs.get(`${namespace}/${pod}/${container}`);
    if (!log) return;
    const lines = options.tailLines !== undefined ? log.lines.slice(-options.tailLines) : [...log.lines];
    if (!options.follow || log.done) {
      yield* lines;
      return;
    }
    const queue = new AsyncQueue<string>();
    for (const l of lines) queue.push(l);
    log.followers.add(queue);
    const abort = () => queue.close();
    options.signal?.addEventListener('abort', abort);
    try {
      yield* queue;
    } finally {
      log.followers.delete(queue);
      options.signal?.removeEventListener('abort', abort);
    }
  }
}
