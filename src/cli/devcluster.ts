import { Command } from 'commander';

// Placeholder until the issue that owns this subcommand lands; replaced, not extended.
export function command(): Command {
  return new Command('devcluster').action(() => {
    throw new Error('devcluster is not implemented yet');
  });
}
