import { Command } from 'commander';

// Placeholder until the issue that owns this subcommand lands; replaced, not extended.
export function command(): Command {
  return new Command('trace').action(() => {
    throw new Error('trace is not implemented yet');
  });
}
