import { Command } from 'commander';

// Placeholder until the issue that owns this subcommand lands; replaced, not extended.
export function command(): Command {
  return new Command('operator').action(() => {
    throw new Error('operator is not implemented yet');
  });
}
