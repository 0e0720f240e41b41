import { Command } from 'commander';

// Placeholder until the issue that owns this subcommand lands; replaced, not extended.
export function command(): Command {
  return new Command('resolve').action(() => {
    throw new Error('resolve is not implemented yet');
  });
}
