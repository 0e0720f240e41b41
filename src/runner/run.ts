import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  defaultOutputs,
  type Artifact,
  type OutputFormat,
  type ProcessFilter,
  type TargetStatus,
  type TracerSpec,
} from '../api/tracejob.ts';
import { silentLogger, type Logger } from '../log.ts';
import { mergeStacks, summarize, type Stacks } from '../profile/index.ts';
import { objectKey, type ArtifactSink } from '../storage/index.ts';
import { RunnerError } from './errors.ts';
import { selectProcesses } from './filter.ts';
import { MANIFEST_VERSION, type FailureReason, type ResultManifest } from './manifest.ts';
import type { PlanTarget } from './plan.ts';
import { checkPrerequisites, type KernelPaths, type PrereqReport } from './prereq.ts';
import { renderProfile, renderStacks } from './profile.ts';
import { resolveContainer, resolvePid, type ResolvedTarget } from './resolve.ts';
import { adapterFor, type OutputFile, type TracerAdapter } from './tracers/index.ts';
import type { StackFormat } from './tracers/types.ts';

export type TraceTarget = ({ kind: 'container' } & PlanTarget) | { kind: 'pid'; pid: number };

export interface TraceRequest {
  targets: TraceTarget[];
  tracer: TracerSpec;
  process?: ProcessFilter;
  durationSeconds: number;
  /** Default: what the API defaults to for the tracer. */
  outputs?: OutputFormat[];
  traceJob?: { namespace: string; name: string; uid: string };
  node?: string;
}

export interface TraceRunOptions {
  /** Everything is written here: raw output, rendered profiles, manifest.json. */
  workDir: string;
  /** Where artifacts are uploaded; without it they stay in workDir (file:// URIs). Needs traceJob and node. */
  sink?: ArtifactSink;
  /** Key prefix of the sink (SinkConfig.prefix). */
  sinkPrefix?: string;
  /** Between SIGINT and SIGKILL (default 10 s). */
  graceMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
  kernel?: KernelPaths;
  proc?: string;
}

interface TargetResult {
  status: TargetStatus;
  files: OutputFile[];
  stacks?: { stacks: Stacks; format: StackFormat };
  failure?: FailureReason;
}

/**
 * Resolves the targets, checks the kernel and tracer, runs the tracer on every target at once (time-boxed), renders
 * stacks, stores the artifacts and returns the manifest. Failures become a Failed manifest with a reason, never a throw,
 * so that the operator always learns what happened.
 */
export async function runTrace(request: TraceRequest, options: TraceRunOptions): Promise<ResultManifest> {
  const startTime = new Date().toISOString();
  const logger = options.logger ?? silentLogger();
  const outputs = request.outputs ?? defaultOutputs(request.tracer);
  await mkdir(options.workDir, { recursive: true, mode: 0o700 });
  const base = {
    version: MANIFEST_VERSION,
    ...(request.traceJob ? { traceJob: request.traceJob } : {}),
    ...(request.node ? { node: request.node } : {}),
    tracer: request.tracer.type,
    startTime,
  } as const;
  const failed = (reason: FailureReason, message: string): ResultManifest => ({
    ...base,
    state: 'Failed',
    reason,
    message,
    completionTime: new Date().toISOString(),
    targets: request.targets.map((t) => ({ ...targetIdentity(t), state: 'Failed' as const, message })),
    artifacts: [],
  });

  let adapter: TracerAdapter;
  let prereq: PrereqReport;
  try {
    adapter = await adapterFor(request.tracer, {
      wholeContainer: request.process === undefined,
      kernel: options.kernel,
    });
    prereq = await checkPrerequisites(adapter.requirements(), options.kernel);
  } catch (err) {
    return finish(failed(reasonOf(err), messageOf(err)), options);
  }
  for (const warning of prereq.warnings) logger.warn(warning);
  logger.info('tracing', { tracer: adapter.name, targets: request.targets.length, seconds: request.durationSeconds });

  const multiple = request.targets.length > 1;
  const results = await Promise.all(
    request.targets.map((target) =>
      traceOne(target, {
        request,
        options,
        adapter,
        prereq,
        outputs,
        logger,
        prefix: multiple && target.kind === 'container' ? `${target.pod}.` : '',
      }),
    ),
  );

  const profiled = results.flatMap((r) => (r.stacks ? [r.stacks] : []));
  const merged = profiled.length > 0 ? mergeStacks(...profiled.map((p) => p.stacks)) : undefined;
  // Several pods on this node: besides one profile per pod, the node's whole picture under the unprefixed names.
  const mergedFiles =
    multiple && merged && profiled.length > 1
      ? (
          await renderStacks({
            stacks: merged,
            format: profiled[0]!.format,
            outputs: outputs.filter((o) => o !== 'raw'),
            dir: options.workDir,
            prefix: '',
            title: `${adapter.name}: ${profiled.length} pods${request.node ? ` on ${request.node}` : ''}`,
          })
        ).files
      : [];

  const artifacts: Artifact[] = [];
  let uploadError: string | undefined;
  const perPod = results.map((result, i) => {
    const target = request.targets[i]!;
    return { files: result.files, pod: target.kind === 'container' ? target.pod : undefined };
  });
  for (const { files, pod } of [{ files: mergedFiles, pod: undefined }, ...perPod]) {
    for (const file of files) {
      try {
        artifacts.push({
          ...(await store(file, request, options)),
          ...(request.node ? { node: request.node } : {}),
          ...(pod !== undefined ? { pod } : {}),
        });
      } catch (err) {
        uploadError ??= `storing ${file.name} failed: ${messageOf(err)}`;
      }
    }
  }
  const summary = merged ? summarize(merged, { top: 10, maxFrameLength: 160 }) : undefined;
  const firstFailure = results.find((r) => r.failure);
  const allFailed = results.every((r) => r.failure);
  const manifest: ResultManifest = {
    ...base,
    state: allFailed || uploadError ? 'Failed' : 'Succeeded',
    ...(allFailed && firstFailure
      ? { reason: firstFailure.failure, message: firstFailure.status.message }
      : uploadError
        ? { reason: 'UploadFailed' as const, message: uploadError }
        : prereq.warnings.length > 0
          ? { message: prereq.warnings.join('; ') }
          : {}),
    completionTime: new Date().toISOString(),
    targets: results.map((r) => r.status),
    artifacts,
    ...(summary ? { summary } : {}),
  };
  return finish(manifest, options);
}

async function traceOne(
  target: TraceTarget,
  ctx: {
    request: TraceRequest;
    options: TraceRunOptions;
    adapter: TracerAdapter;
    prereq: PrereqReport;
    outputs: OutputFormat[];
    logger: Logger;
    prefix: string;
  },
): Promise<TargetResult> {
  const { request, options, adapter, prereq, outputs, logger, prefix } = ctx;
  const identity = targetIdentity(target);
  let resolved: ResolvedTarget;
  try {
    resolved =
      target.kind === 'pid'
        ? await resolvePid(target.pid, { proc: options.proc })
        : await resolveContainer(target, { proc: options.proc });
    resolved = { ...resolved, processes: selectProcesses(resolved.processes, request.process) };
  } catch (err) {
    const reason = err instanceof RunnerError ? err.reason : 'TargetNotFound';
    return { status: { ...identity, state: 'Failed', message: messageOf(err) }, files: [], failure: reason };
  }
  const pids = resolved.processes.map((p) => p.pid);
  const workDir = join(options.workDir, prefix ? `.work-${prefix.slice(0, -1)}` : '.work');
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  try {
    const outcome = await adapter.run({
      workDir,
      processes: resolved.processes,
      ...(resolved.cgroupV2Dir !== undefined ? { cgroupV2Dir: resolved.cgroupV2Dir } : {}),
      ...(resolved.cgroupV2Path !== undefined ? { cgroupV2Path: resolved.cgroupV2Path } : {}),
      ...(resolved.cgroupId !== undefined ? { cgroupId: resolved.cgroupId } : {}),
      durationMs: request.durationSeconds * 1000,
      graceMs: options.graceMs ?? 10_000,
      binaries: prereq.binaries,
      ...(prereq.tracefs ? { tracefs: prereq.tracefs } : {}),
      signal: options.signal,
      logger,
    });
    const files: OutputFile[] = [];
    for (const file of outcome.files) {
      if (!outputs.includes(file.format)) continue;
      const name = `${prefix}${file.name}`;
      const path = join(options.workDir, name);
      const moved = await rename(file.path, path).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
          return false;
        },
      );
      if (moved) files.push({ ...file, name, path });
      else outcome.notes.push(`${adapter.name} wrote no ${file.name}`);
    }
    const notes = [...outcome.notes];
    let stacks: TargetResult['stacks'];
    const stackOutput = outcome.stacks;
    if (stackOutput) {
      const title =
        target.kind === 'container'
          ? `${adapter.name}: ${target.pod}/${target.container}`
          : `${adapter.name}: PID ${target.pid}`;
      const source = files.find((f) => f.name === `${prefix}${stackOutput.path.split('/').pop()}`);
      const rendered = await renderProfile({
        format: stackOutput.format,
        path: source?.path ?? stackOutput.path,
        outputs: outputs.filter((o) => o !== 'raw'),
        dir: options.workDir,
        prefix,
        title,
      });
      files.push(...rendered.files);
      notes.push(...rendered.notes);
      stacks = { stacks: rendered.stacks, format: stackOutput.format };
      if (rendered.summary.samples === 0)
        notes.push('no samples of the target were recorded (was it idle, or did it exit?)');
    }
    if (options.signal?.aborted) {
      return {
        status: { ...identity, state: 'Failed', pids, message: 'interrupted before the end of the duration' },
        files,
        stacks,
        failure: 'Interrupted',
      };
    }
    return {
      status: { ...identity, state: 'Succeeded', pids, ...(notes.length ? { message: notes.join('; ') } : {}) },
      files,
      stacks,
    };
  } catch (err) {
    // Stopping a tracer early can make it fail (perf killed while it starts, a truncated perf.data): the cause is the
    // interruption, and saying TracerFailed would send the user looking for a bug in the tracer.
    const interrupted = options.signal?.aborted === true;
    return {
      status: {
        ...identity,
        state: 'Failed',
        pids,
        message: interrupted ? `interrupted before the end of the duration: ${messageOf(err)}` : messageOf(err),
      },
      files: [],
      failure: interrupted ? 'Interrupted' : reasonOf(err),
    };
  } finally {
    // Intermediate files (perf.data, trace.dat) can be large; what the user asked for has been moved out.
    await rm(workDir, { recursive: true, force: true });
  }
}

async function store(file: OutputFile, request: TraceRequest, options: TraceRunOptions): Promise<Artifact> {
  const key = sinkKey(request, options, file.name);
  if (options.sink && key !== undefined) {
    // Not tied to the abort signal: what a stopped trace recorded is still worth storing in the grace period.
    const stored = await options.sink.put({ key, filePath: file.path });
    return {
      name: file.name,
      format: file.format,
      uri: stored.uri,
      sizeBytes: stored.sizeBytes,
      sha256: stored.sha256,
    };
  }
  const [sizeBytes, sha256] = await Promise.all([stat(file.path).then((s) => s.size), sha256Of(file.path)]);
  return { name: file.name, format: file.format, uri: `file://${file.path}`, sizeBytes, sha256 };
}

/** Writes the complete manifest to workDir/manifest.json (and the sink), and returns it. */
async function finish(manifest: ResultManifest, options: TraceRunOptions): Promise<ResultManifest> {
  const path = join(options.workDir, 'manifest.json');
  await writeFile(path, `${JSON.stringify(manifest, null, 2)}\n`);
  const key = sinkKey(manifest, options, 'manifest.json');
  if (options.sink && key !== undefined) {
    try {
      await options.sink.put({ key, filePath: path });
    } catch (err) {
      (options.logger ?? silentLogger()).error('storing manifest.json failed', { error: messageOf(err) });
    }
  }
  return manifest;
}

/** Where an artifact goes in the sink; undefined without a sink, or without the TraceJob and node to file it under. */
function sinkKey(
  run: { traceJob?: TraceRequest['traceJob']; node?: string },
  options: TraceRunOptions,
  artifact: string,
): string | undefined {
  if (!options.sink || !run.traceJob || !run.node) return undefined;
  return objectKey({
    prefix: options.sinkPrefix,
    namespace: run.traceJob.namespace,
    traceJob: run.traceJob.name,
    uid: run.traceJob.uid,
    node: run.node,
    artifact,
  });
}

function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

function targetIdentity(target: TraceTarget): TargetStatus {
  if (target.kind === 'pid') return { namespace: '', pod: '', state: 'Pending', pids: [target.pid] };
  return {
    namespace: target.namespace,
    pod: target.pod,
    podUID: target.podUID,
    container: target.container,
    containerID: target.containerID,
    ...(target.qosClass ? { qosClass: target.qosClass } : {}),
    state: 'Pending',
  };
}

function reasonOf(err: unknown): FailureReason {
  return err instanceof RunnerError ? err.reason : 'InternalError';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
