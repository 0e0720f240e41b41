import { Command } from 'commander';

// Placeholder until the issue that owns this subcommand lands; replaced, not extended.
export function command(): Command {
  return new Command('diff').action(() => {
    throw new Error('diff is not implemented yet');
  });
}
