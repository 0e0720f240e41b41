import { Command } from 'commander';

// Placeholder until the issue that owns this subcommand lands; replaced, not extended.
export function command(): Command {
  return new Command('runner').action(() => {
    throw new Error('runner is not implemented yet');
  });
}
