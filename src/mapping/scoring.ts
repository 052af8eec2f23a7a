/**
 * Questionnaire scoring as data (mappings/questionnaires/*.yaml): how to
 * recognise an instrument and how many points each answer is worth. A
 * response with a missing or unscorable item is incomplete: it gets no
 * computed total rather than a lower one.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Questionnaire, QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { configErrors } from '../errors';
import type { Answer, Score } from './model';
import { readYamlFile } from './yaml-source';
import { MAPPINGS_DIR } from './load';

export interface InstrumentDefinition {
  instrument: string;
  title: string;
  recognise: { questionnaires: string[]; codes: string[]; minItemsMatched: number };
  items: { key: string; linkIds: string[] }[];
  answers: { codes: Record<string, number>; displays: Record<string, number>; numbers?: { min: number; max: number } };
  total: { linkIds: string[]; loinc: string; max: number };
  file: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseDefinition(
  file: string,
  problems: string[],
  base?: InstrumentDefinition,
): InstrumentDefinition | undefined {
  const y = readYamlFile(file);
  const d = y.data;
  if (!isRecord(d)) {
    problems.push(`${file}: must be a mapping`);
    return undefined;
  }
  const known = new Set(['instrument', 'title', 'recognise', 'items', 'answers', 'total']);
  for (const k of Object.keys(d))
    if (!known.has(k)) problems.push(`${y.where([k])}: ${k} is not a known key (expected: ${[...known].join(', ')})`);
  const merged = { ...(base ?? {}), ...d, file } as Record<string, unknown>;
  const at = (k: string): string => y.where([k]);
  if (typeof merged.instrument !== 'string') problems.push(`${at('instrument')}: instrument is required (e.g. phq9)`);
  const rec = merged.recognise as InstrumentDefinition['recognise'] | undefined;
  if (!isRecord(rec)) problems.push(`${at('recognise')}: recognise is required`);
  const items = merged.items as InstrumentDefinition['items'] | undefined;
  if (
    !Array.isArray(items) ||
    items.length === 0 ||
    items.some((i) => !isRecord(i) || typeof i.key !== 'string' || !Array.isArray(i.linkIds))
  ) {
    problems.push(`${at('items')}: items must be a list of { key, linkIds: [...] }`);
  }
  const answers = merged.answers as InstrumentDefinition['answers'] | undefined;
  if (!isRecord(answers) || !isRecord(answers.codes))
    problems.push(`${at('answers')}: answers.codes must map answer codes to points`);
  else {
    // Points are what the instrument's manual gives each answer: never negative, never above an item's maximum.
    const range = isRecord(answers.numbers) && typeof answers.numbers.max === 'number' ? answers.numbers : undefined;
    for (const group of ['codes', 'displays'] as const) {
      const values = answers[group];
      if (values === undefined) continue;
      if (!isRecord(values))
        problems.push(`${y.where(['answers', group])}: answers.${group} must map answers to points`);
      else if (
        Object.values(values).some(
          (v) => typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (range !== undefined && v > range.max),
        )
      ) {
        problems.push(
          `${y.where(['answers', group])}: answers.${group} values must be points from 0${range ? ` to ${range.max} (answers.numbers.max)` : ''}`,
        );
      }
    }
  }
  const total = merged.total as InstrumentDefinition['total'] | undefined;
  if (!isRecord(total) || !Array.isArray(total.linkIds) || typeof total.max !== 'number')
    problems.push(`${at('total')}: total needs linkIds, loinc and max`);
  if (problems.length > 0) return undefined;
  return {
    instrument: merged.instrument as string,
    title: (merged.title as string | undefined) ?? (merged.instrument as string),
    recognise: {
      questionnaires: rec?.questionnaires ?? [],
      codes: (rec?.codes ?? []).map(String),
      minItemsMatched: rec?.minItemsMatched ?? items!.length,
    },
    items: items!.map((i) => ({ key: i.key, linkIds: i.linkIds.map(String) })),
    answers: {
      codes: answers!.codes,
      displays: Object.fromEntries(Object.entries(answers!.displays ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
      ...(answers!.numbers ? { numbers: answers!.numbers } : {}),
    },
    total: { linkIds: total!.linkIds.map(String), loinc: String(total!.loinc), max: total!.max },
    file,
  };
}

/** Instruments from mappings/questionnaires, with a source's overrides (mappings/sources/<id>/questionnaires/<name>.yaml) laid over them. */
export function loadInstruments(
  options: { dir?: string; sourceId?: string; overridesDir?: string } = {},
): InstrumentDefinition[] {
  const dir = options.dir ?? MAPPINGS_DIR;
  const problems: string[] = [];
  const out: InstrumentDefinition[] = [];
  const qdir = path.join(dir, 'questionnaires');
  const odir = options.sourceId
    ? path.join(options.overridesDir ?? dir, 'sources', options.sourceId, 'questionnaires')
    : undefined;
  const files = existsSync(qdir)
    ? readdirSync(qdir)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
    : [];
  for (const f of files) {
    const problemsBefore = problems.length;
    let def = parseDefinition(path.join(qdir, f), problems);
    const override = odir ? path.join(odir, f) : undefined;
    if (def && override && existsSync(override)) def = parseDefinition(override, problems, def);
    if (def && problems.length === problemsBefore) out.push(def);
  }
  if (problems.length > 0) throw configErrors(problems.map((text) => ({ text })));
  return out;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(
    `^${glob
      .split('*')
      .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

/**
 * Answers of a response, nested items included (FHIRPath's repeat() is not reliable for this in @medplum/core).
 * `freeText`, when given, receives the answers that were free text (valueString).
 */
export function collectAnswers(
  items: QuestionnaireResponseItem[] | undefined,
  out: Answer[] = [],
  freeText?: Set<Answer>,
): Answer[] {
  for (const item of items ?? []) {
    for (const a of item.answer ?? []) {
      if (a.valueCoding?.code !== undefined)
        out.push({
          linkId: item.linkId,
          value: a.valueCoding.code,
          ...(a.valueCoding.system ? { system: a.valueCoding.system } : {}),
        });
      else if (a.valueCoding?.display !== undefined) out.push({ linkId: item.linkId, value: a.valueCoding.display });
      else if (a.valueInteger !== undefined) out.push({ linkId: item.linkId, value: a.valueInteger });
      else if (a.valueDecimal !== undefined) out.push({ linkId: item.linkId, value: a.valueDecimal });
      else if (a.valueString !== undefined) {
        const answer = { linkId: item.linkId, value: a.valueString };
        out.push(answer);
        freeText?.add(answer);
      } else if (a.valueBoolean !== undefined) out.push({ linkId: item.linkId, value: a.valueBoolean });
      else if (a.valueQuantity?.value !== undefined && Number.isFinite(Number(a.valueQuantity.value))) {
        // Some EMRs send the number as text ("20"): a tolerant reader keeps the number.
        out.push({ linkId: item.linkId, value: Number(a.valueQuantity.value) });
      }
      collectAnswers(a.item, out, freeText);
    }
    collectAnswers(item.item, out, freeText);
  }
  return out;
}

export interface QuestionnaireLookup {
  /** A stored Questionnaire by canonical URL or by `Questionnaire/<id>`. */
  (ref: string): Questionnaire | undefined;
}

/** Which instrument a response is, if any. */
export function recogniseInstrument(
  response: Pick<QuestionnaireResponse, 'questionnaire'>,
  answers: Answer[],
  instruments: InstrumentDefinition[],
  lookup?: QuestionnaireLookup,
): InstrumentDefinition | undefined {
  const canonical = response.questionnaire?.split('|')[0];
  if (canonical) {
    const byUrl = instruments.find((d) => d.recognise.questionnaires.some((g) => globToRegExp(g).test(canonical)));
    if (byUrl) return byUrl;
    const q = lookup?.(canonical);
    const codes = new Set((q?.code ?? []).map((c) => c.code));
    const byCode = instruments.find((d) => d.recognise.codes.some((c) => codes.has(c)));
    if (byCode) return byCode;
  }
  const linkIds = new Set(answers.map((a) => a.linkId));
  return instruments.find(
    (d) => d.items.filter((i) => i.linkIds.some((l) => linkIds.has(l))).length >= d.recognise.minItemsMatched,
  );
}

/** The points an instrument gives an answer value, if it scores it. */
export function answerPoints(value: Answer['value'], def: InstrumentDefinition): number | undefined {
  if (typeof value === 'number') {
    const range = def.answers.numbers;
    return range && Number.isInteger(value) && value >= range.min && value <= range.max ? value : undefined;
  }
  if (typeof value === 'string') return def.answers.codes[value] ?? def.answers.displays[value.trim().toLowerCase()];
  return undefined;
}

/** Scores a response with an instrument's definition. */
export function scoreResponse(answers: Answer[], def: InstrumentDefinition): Score {
  const byLinkId = new Map<string, Answer>();
  for (const a of answers) if (!byLinkId.has(a.linkId)) byLinkId.set(a.linkId, a);
  const items: Record<string, number> = {};
  const missing: string[] = [];
  for (const item of def.items) {
    const answer = item.linkIds.map((l) => byLinkId.get(l)).find((a) => a !== undefined);
    const p = answer ? answerPoints(answer.value, def) : undefined;
    if (p === undefined) missing.push(item.key);
    else items[item.key] = p;
  }
  const complete = missing.length === 0;
  const computedTotal = complete ? Object.values(items).reduce((s, p) => s + p, 0) : undefined;
  const statedRaw = def.total.linkIds.map((l) => byLinkId.get(l)?.value).find((v) => v !== undefined);
  const stated =
    typeof statedRaw === 'number'
      ? statedRaw
      : typeof statedRaw === 'string' && /^\d+$/.test(statedRaw)
        ? Number(statedRaw)
        : undefined;
  const statedTotal = stated !== undefined && stated >= 0 && stated <= def.total.max ? stated : undefined;
  const total = statedTotal ?? computedTotal;
  return {
    instrument: def.instrument,
    ...(total !== undefined ? { total } : {}),
    complete,
    ...(statedTotal !== undefined ? { statedTotal } : {}),
    ...(computedTotal !== undefined ? { computedTotal } : {}),
    items,
    missing,
  };
}
