import { Command } from 'commander';

// Placeholder until the issue that owns this subcommand lands; replaced, not extended.
export function command(): Command {
  return new Command('flamegraph').action(() => {
    throw new Error('flamegraph is not implemented yet');
  });
}
