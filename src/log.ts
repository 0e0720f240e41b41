import winston from 'winston';

export type Logger = winston.Logger;

/**
 * JSON lines on stderr, so that stdout stays free for a command's own output (folded stacks, SVG, JSON).
 * Controllers pass `{ traceJob: "ns/name" }` to `child()` so every line carries the object's key.
 */
export function createLogger(options: { level?: string; json?: boolean } = {}): Logger {
  const json = options.json ?? true;
  return winston.createLogger({
    level: options.level ?? process.env.TRACEJOB_LOG_LEVEL ?? 'info',
    format: json
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(winston.format.timestamp(), winston.format.simple()),
    transports: [
      new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] }),
    ],
  });
}

/** A logger that drops everything: the default for library code and tests that do not pass one. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });
}
