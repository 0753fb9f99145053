/**
 * CodaV2 code schemes as Coda and the AVF tools write them (CoreDataModules' CodeScheme/Code maps):
 * `{ SchemeID, Name, Version, Codes: [{ CodeID, CodeType, ControlCode?, MetaCode?, DisplayText, Shortcut?,
 * NumericValue, StringValue, VisibleInCoda, Color?, MatchValues? }], Documentation? }`.
 * Workflow-safe (zod only). Keys we do not know are kept (`looseObject`): a scheme read from Coda and
 * written back must not lose what a newer Coda added.
 */
import { z } from 'zod';

/** The control codes the AVF tools know (core_data_modules Codes.CONTROL_CODES). */
export const CONTROL_CODES = ['STOP', 'DELETED', 'NA', 'NS', 'NIC', 'CE', 'NR', 'NC', 'WS', 'NOC'] as const;
export type ControlCode = (typeof CONTROL_CODES)[number];
export const CODE_TYPES = ['Normal', 'Control', 'Meta'] as const;

export const codeSchema = z
  .looseObject({
    CodeID: z.string().min(1),
    CodeType: z.enum(CODE_TYPES),
    ControlCode: z.string().optional(),
    MetaCode: z.string().optional(),
    DisplayText: z.string(),
    Shortcut: z.string().length(1, 'a single character').optional(),
    NumericValue: z.int(),
    StringValue: z.string(),
    VisibleInCoda: z.boolean(),
    Color: z.string().optional(),
    MatchValues: z.array(z.string()).optional(),
  })
  .superRefine((code, ctx) => {
    if (code.CodeType === 'Control') {
      if (code.ControlCode === undefined) ctx.addIssue({ code: 'custom', path: ['ControlCode'], message: 'a Control code needs ControlCode' });
      else if (!(CONTROL_CODES as readonly string[]).includes(code.ControlCode)) {
        ctx.addIssue({ code: 'custom', path: ['ControlCode'], message: `unknown control code "${code.ControlCode}"; expected one of ${CONTROL_CODES.join(', ')}` });
      }
    }
    if (code.CodeType === 'Meta' && code.MetaCode === undefined) ctx.addIssue({ code: 'custom', path: ['MetaCode'], message: 'a Meta code needs MetaCode' });
  });

function flagRepeats(ctx: z.RefinementCtx, values: Array<{ value: unknown; index: number }>, field: string): void {
  const seen = new Map<unknown, number>();
  for (const { value, index } of values) {
    const first = seen.get(value);
    if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['Codes', index, field], message: `${field} ${JSON.stringify(value)} repeats Codes[${first}]` });
    else seen.set(value, index);
  }
}

export const codeSchemeSchema = z
  .looseObject({
    SchemeID: z.string().min(1),
    Name: z.string().min(1),
    Version: z.string().min(1),
    Codes: z.array(codeSchema).min(1),
    Documentation: z.looseObject({ URI: z.string() }).optional(),
  })
  .superRefine((scheme, ctx) => {
    const codes = scheme.Codes.map((code, index) => ({ code, index }));
    flagRepeats(ctx, codes.map(({ code, index }) => ({ value: code.CodeID, index })), 'CodeID');
    flagRepeats(ctx, codes.map(({ code, index }) => ({ value: code.StringValue, index })), 'StringValue');
    flagRepeats(ctx, codes.map(({ code, index }) => ({ value: code.NumericValue, index })), 'NumericValue');
    flagRepeats(ctx, codes.filter(({ code }) => code.CodeType === 'Control').map(({ code, index }) => ({ value: code.ControlCode, index })), 'ControlCode');
    const matches: Array<{ value: unknown; index: number }> = [];
    for (const { code, index } of codes) for (const value of code.MatchValues ?? []) matches.push({ value, index });
    flagRepeats(ctx, matches, 'MatchValues');
  });

export type Code = z.output<typeof codeSchema>;
export type CodeScheme = z.output<typeof codeSchemeSchema>;

export function codeById(scheme: CodeScheme, codeId: string): Code | undefined {
  return scheme.Codes.find((code) => code.CodeID === codeId);
}

export function codeWithControlCode(scheme: CodeScheme, control: ControlCode): Code | undefined {
  return scheme.Codes.find((code) => code.CodeType === 'Control' && code.ControlCode === control);
}

/** The code whose MatchValues hold `value` (auto-coding of survey answers), if any. */
export function codeWithMatchValue(scheme: CodeScheme, value: string): Code | undefined {
  return scheme.Codes.find((code) => code.MatchValues?.includes(value));
}
