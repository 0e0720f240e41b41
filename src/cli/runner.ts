import { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { createLogger } from '../log.ts';
import { fitManifest, MANIFEST_VERSION, type ResultManifest } from '../runner/manifest.ts';
import { parseRunnerPlan, PlanError } from '../runner/plan.ts';
import { runTrace } from '../runner/run.ts';
import { stopAllTracers } from '../runner/supervise.ts';
import { createSink } from '../storage/index.ts';

/**
 * The tracer pod's entrypoint. Reads the plan from TRACEJOB_PLAN, traces, uploads, and always ends by writing a manifest
 * that fits the termination message to /dev/termination-log (TRACEJOB_TERMINATION_LOG overrides the path). SIGTERM
 * (pod deleted) stops the tracers with SIGINT, then SIGKILL, and still reports.
 */
export function command(): Command {
  return new Command('runner')
    .description('run the plan of a tracer pod (env TRACEJOB_PLAN); writes the result manifest to the termination log')
    .action(async () => {
      const env = process.env;
      const terminationLog = env.TRACEJOB_TERMINATION_LOG ?? '/dev/termination-log';
      const logger = createLogger();
      const startTime = new Date().toISOString();
      const report = (manifest: ResultManifest) => {
        writeFileSync(terminationLog, JSON.stringify(fitManifest(manifest)));
        process.exitCode = manifest.state === 'Succeeded' ? 0 : 1;
      };
      let plan;
      try {
        plan = parseRunnerPlan(env.TRACEJOB_PLAN);
      } catch (err) {
        if (!(err instanceof PlanError)) throw err;
        logger.error('invalid plan', { error: err.message });
        report({
          version: MANIFEST_VERSION,
          state: 'Failed',
          reason: 'InvalidPlan',
          message: err.message,
          tracer: 'unknown',
          startTime,
          completionTime: new Date().toISOString(),
          targets: [],
          artifacts: [],
        });
        return;
      }
      const controller = new AbortController();
      const onSignal = (signal: NodeJS.Signals) => {
        logger.warn('stopping tracers', { signal });
        controller.abort();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      try {
        const manifest = await runTrace(
          {
            targets: plan.targets.map((t) => ({ kind: 'container' as const, ...t })),
            tracer: plan.tracer,
            ...(plan.process ? { process: plan.process } : {}),
            durationSeconds: plan.durationSeconds,
            outputs: plan.outputs,
            traceJob: plan.traceJob,
            node: plan.node,
          },
          {
            workDir: env.TRACEJOB_WORKDIR ?? `/tmp/tracejob-${plan.traceJob.uid}`,
            ...(plan.storage
              ? {
                  sink: createSink(plan.storage, { logger }),
                  ...(plan.storage.type === 's3' ? { sinkPrefix: plan.storage.prefix } : {}),
                }
              : {}),
            // Kubernetes' default grace period is 30 s: SIGINT, 10 s for the tracer to print, time left to upload.
            graceMs: 10_000,
            signal: controller.signal,
            logger,
          },
        );
        logger.info('finished', {
          state: manifest.state,
          reason: manifest.reason,
          artifacts: manifest.artifacts.length,
        });
        report(manifest);
      } catch (err) {
        logger.error('runner failed', { error: (err as Error).message });
        report({
          version: MANIFEST_VERSION,
          traceJob: plan.traceJob,
          node: plan.node,
          state: 'Failed',
          reason: 'InternalError',
          message: (err as Error).message,
          tracer: plan.tracer.type,
          startTime,
          completionTime: new Date().toISOString(),
          targets: [],
          artifacts: [],
        });
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        await stopAllTracers();
      }
    });
}
