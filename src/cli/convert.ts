import { Command } from 'commander';

// Placeholder until the issue that owns this subcommand lands; replaced, not extended.
export function command(): Command {
  return new Command('convert').action(() => {
    throw new Error('convert is not implemented yet');
  });
}
