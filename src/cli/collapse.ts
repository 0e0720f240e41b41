import { Command } from 'commander';

// Placeholder until the issue that owns this subcommand lands; replaced, not extended.
export function command(): Command {
  return new Command('collapse').action(() => {
    throw new Error('collapse is not implemented yet');
  });
}
