import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { ResultManifest } from '../../src/runner/manifest.ts';
import { localConfig } from '../../src/operator/config.ts';
import type { TraceJobForPods } from '../../src/operator/tracer-pod.ts';
import type { TraceJobObject } from '../../src/operator/types.ts';

/** Builders for test objects: each returns a valid default, and a test changes only what it is about. */

export const config = localConfig('/var/lib/tracejob/results', { tracerNamespace: 'tracejob-system' });

const hex64 = (seed: string) => seed.repeat(64).slice(0, 64);

export function targetPod(
  name: string,
  options: {
    node?: string;
    phase?: string;
    containers?: string[];
    running?: boolean;
    deleting?: boolean;
    annotations?: Record<string, string>;
    uid?: string;
  } = {},
): V1Pod {
  const containers = options.containers ?? ['app'];
  const running = options.running ?? true;
  return {
    metadata: {
      name,
      namespace: 'team-a',
      uid:
        options.uid ??
        `00000000-0000-4000-8000-${name
          .padEnd(12, '0')
          .slice(0, 12)
          .replace(/[^0-9a-f]/g, 'a')}`,
      annotations: options.annotations,
      deletionTimestamp: options.deleting ? new Date('2026-01-01T00:00:00Z') : undefined,
    },
    spec: { nodeName: options.node ?? 'node-1', containers: containers.map((c) => ({ name: c, image: 'x' })) },
    status: {
      phase: options.phase ?? 'Running',
      qosClass: 'Burstable',
      containerStatuses: containers.map((c, i) => ({
        name: c,
        image: 'x',
        imageID: '',
        ready: running,
        restartCount: 0,
        containerID: running ? `containerd://${hex64(String(i + 1))}` : undefined,
        state: running ? { running: { startedAt: new Date() } } : { waiting: { reason: 'ContainerCreating' } },
      })),
    },
  };
}

export function node(name: string, ready = true): V1Node {
  return {
    metadata: { name },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

export function traceJobObject(overrides: Partial<TraceJobObject> = {}): TraceJobObject {
  return {
    apiVersion: 'tracejob.dev/v1alpha1',
    kind: 'TraceJob',
    metadata: {
      name: 'web-profile',
      namespace: 'team-a',
      uid: '11111111-2222-4333-8444-555555555555',
      generation: 1,
      resourceVersion: '10',
      creationTimestamp: new Date('2026-01-01T00:00:00Z'),
    },
    spec: { target: { pod: 'web-0' }, tracer: { type: 'profile' }, duration: '30s' },
    ...overrides,
  };
}

export function podInput(overrides: Partial<TraceJobForPods> = {}): TraceJobForPods {
  return {
    namespace: 'team-a',
    name: 'web-profile',
    uid: '11111111-2222-4333-8444-555555555555',
    generation: 1,
    tracer: { type: 'profile', profile: { frequency: 99, engine: 'auto', kernelStacks: false } },
    durationSeconds: 30,
    outputs: ['flamegraph', 'folded', 'summary'],
    storage: {
      name: 'local',
      config: { type: 'local', directory: '/var/lib/tracejob/results', deletePolicy: 'Retain' },
    },
    ...overrides,
  };
}

export function manifest(overrides: Partial<ResultManifest> = {}): ResultManifest {
  return {
    version: 1,
    state: 'Succeeded',
    tracer: 'profile',
    startTime: '2026-01-01T00:00:01Z',
    completionTime: '2026-01-01T00:00:31Z',
    targets: [{ namespace: 'team-a', pod: 'web-0', state: 'Succeeded', pids: [4242] }],
    artifacts: [
      {
        name: 'flamegraph.svg',
        format: 'flamegraph',
        uri: 'file:///var/lib/tracejob/results/team-a/web-profile/uid/node-1/flamegraph.svg',
        sizeBytes: 1234,
        sha256: 'a'.repeat(64),
      },
    ],
    summary: { samples: 100, topFrames: [{ frame: 'hot', self: 0.5, total: 0.9 }] },
    ...overrides,
  };
}

/** A tracer pod as the kubelet would report it in `phase`, with `message` as the termination message. */
export function tracerPodIn(
  name: string,
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed',
  options: { message?: string; exitCode?: number; reason?: string; created?: Date; waiting?: string } = {},
): V1Pod {
  const terminated =
    phase === 'Succeeded' || phase === 'Failed'
      ? { exitCode: options.exitCode ?? (phase === 'Succeeded' ? 0 : 1), message: options.message }
      : undefined;
  return {
    metadata: {
      name,
      namespace: 'tracejob-system',
      creationTimestamp: options.created ?? new Date('2026-01-01T00:00:00Z'),
    },
    spec: { containers: [{ name: 'runner' }], activeDeadlineSeconds: 150 },
    status: {
      phase,
      reason: options.reason,
      containerStatuses: [
        {
          name: 'runner',
          image: 'x',
          imageID: '',
          ready: phase === 'Running',
          restartCount: 0,
          state: terminated
            ? { terminated }
            : phase === 'Running'
              ? { running: {} }
              : { waiting: { reason: options.waiting ?? 'ContainerCreating' } },
        },
      ],
    },
  };
}
