import { tracePolicyCrd, traceJobCrd, type JSONSchemaProps } from './crd.ts';
import { TOOLS, TOOL_NAMES, type ToolInfo } from './tools.ts';

type Schema = JSONSchemaProps & {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  maxItems?: number;
};

/** The field tables of docs/reference.md, from the same schemas as the CRDs, so the reference never drifts. */
export function referenceTables(): Record<'tracejob-spec' | 'tracejob-status' | 'tracepolicy-spec' | 'tools', string> {
  const root = (crd: JSONSchemaProps) =>
    (crd.spec as { versions: { schema: { openAPIV3Schema: Schema } }[] }).versions[0]!.schema.openAPIV3Schema;
  const traceJob = root(traceJobCrd());
  const policy = root(tracePolicyCrd());
  return {
    'tracejob-spec': table(traceJob.properties!.spec!, 'spec'),
    'tracejob-status': table(traceJob.properties!.status!, 'status'),
    'tracepolicy-spec': table(policy.properties!.spec!, 'spec'),
    tools: toolsTable(),
  };
}

function toolsTable(): string {
  const rows = [
    '| Tool | What it shows | Confined by | Output | Kernel stacks | Options a TraceJob may pass |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const name of TOOL_NAMES) {
    const tool: ToolInfo = TOOLS[name];
    const options = tool.options.map((o) => {
      const value = o.value === 'flag' ? '' : `=${o.value.toUpperCase()}`;
      return `\`${o.short ? `-${o.short}, ` : ''}--${o.long}${value}\``;
    });
    if (tool.positional) options.push(`${tool.positional.name.toUpperCase()} (${tool.positional.accepted})`);
    rows.push(
      `| ${name} | ${tool.description} | ${tool.target === 'pid' ? 'PID' : 'cgroup'} | ${tool.output} | ${tool.kernelStacks ? 'yes' : 'no'} | ${options.join(' ') || '(none)'} |`,
    );
  }
  return rows.join('\n');
}

function table(schema: Schema, path: string): string {
  const rows = ['| Field | Type | Default | Description |', '| --- | --- | --- | --- |'];
  const visit = (node: Schema, at: string, required: boolean) => {
    rows.push(
      `| \`${at}\`${required ? ' (required)' : ''} | ${typeOf(node)} | ${node.default === undefined ? '' : `\`${JSON.stringify(node.default)}\``} | ${cell(node)} |`,
    );
    const object = node.type === 'array' ? node.items : node;
    const prefix = node.type === 'array' ? `${at}[]` : at;
    for (const [name, sub] of Object.entries(object?.properties ?? {})) {
      visit(sub, `${prefix}.${name}`, object?.required?.includes(name) ?? false);
    }
  };
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    visit(sub, `${path}.${name}`, schema.required?.includes(name) ?? false);
  }
  return rows.join('\n');
}

function typeOf(node: Schema): string {
  if (node.type === 'array') return `list of ${node.items?.type === 'object' ? 'objects' : `${node.items?.type}s`}`;
  if (node.type === 'object' && node.additionalProperties) return 'map of strings';
  return node.type ?? 'any';
}

function cell(node: Schema): string {
  const parts = [node.description ?? ''];
  const items = node.type === 'array' ? node.items : undefined;
  const values = node.enum ?? items?.enum;
  if (values && !(node.description ?? '').includes(String(values[0]))) parts.push(`One of: ${values.join(', ')}.`);
  return parts.join(' ').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

const begin = (name: string) => `<!-- BEGIN GENERATED ${name} (scripts/generate-crds.ts) -->`;
const end = (name: string) => `<!-- END GENERATED ${name} -->`;

/** Replaces each generated section of the reference with a fresh table; throws when a marker is missing. */
export function updateReference(markdown: string): string {
  let out = markdown;
  for (const [name, content] of Object.entries(referenceTables())) {
    const from = out.indexOf(begin(name));
    const to = out.indexOf(end(name));
    if (from < 0 || to < from) throw new Error(`docs/reference.md lacks the markers of the ${name} table`);
    out = `${out.slice(0, from)}${begin(name)}\n${content}\n${out.slice(to)}`;
  }
  return out;
}
