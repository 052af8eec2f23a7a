/**
 * The simulator's patients answer their survey invitations through the survey page, as a phone would
 * (docs/surveys.md, "Sandbox"): the link found in a text or an email sent today, the page opened
 * (GET), the form read, answers chosen (seeded: mostly low PHQ-9/GAD-7 items, item 9 rarely above 0;
 * mostly satisfied), and posted (POST) — the real path, so `npm start` shows answers reaching the EMR
 * at once and a crisis path now and then.
 */
import { Random } from './random';

const LINK = /https?:\/\/[^\s"<>]+\/s\/[A-Za-z0-9_-]{22}\.[a-z0-9]{1,8}\.[A-Za-z0-9_-]{22}/g;
/** Odds of each answer of a 0-3 item, and of PHQ-9 item 9 (thoughts of self-harm) — rarer above 0. */
const FOUR = [0.45, 0.3, 0.15, 0.1];
const ITEM9 = [0.93, 0.05, 0.015, 0.005];

/** The survey links in messages (each once). */
export function surveyLinks(texts: readonly string[]): string[] {
  // An email's quoted-printable soft breaks (=\r\n) would cut a link: joined first.
  return [...new Set(texts.flatMap((t) => t.replace(/=\r?\n/g, '').match(LINK) ?? []))];
}

function weighted(rng: Random, odds: number[]): number {
  let roll = rng.next();
  for (let i = 0; i < odds.length; i++) {
    roll -= odds[i] as number;
    if (roll < 0) return i;
  }
  return odds.length - 1;
}

const decode = (s: string): string =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** The fields a patient fills in on the page's form, chosen. */
export function chooseAnswers(html: string, rng: Random): URLSearchParams {
  const fields = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g))
    fields.set(decode(m[1] as string), decode(m[2] as string));
  const radios = new Map<string, string[]>();
  for (const m of html.matchAll(/<input type="radio" id="[^"]+" name="([^"]+)" value="([^"]*)"/g)) {
    const name = decode(m[1] as string);
    radios.set(name, [...(radios.get(name) ?? []), decode(m[2] as string)]);
  }
  for (const [name, values] of radios) {
    const pick =
      values.length === 4
        ? weighted(rng, name === 'q.44260-8' ? ITEM9 : FOUR)
        : // Experience items (1-5), yes/no: mostly the better end.
          Math.max(0, values.length - 1 - weighted(rng, [0.5, 0.3, 0.12, 0.05, 0.03]));
    fields.set(name, values[pick] as string);
  }
  for (const m of html.matchAll(
    /<input type="text" id="[^"]+" name="([^"]+)" value="[^"]*" inputmode="numeric"[^>]*?data-max="(\d+)"/g,
  ))
    fields.set(
      decode(m[1] as string),
      String(Math.max(0, Number(m[2]) - weighted(rng, [0.4, 0.25, 0.15, 0.1, 0.1]) * 2)),
    );
  return fields;
}

/** Patients open and answer (with `answerRate` odds each) the survey links in today's messages; how many answered. */
export async function patientsAnswerSurveys(
  texts: readonly string[],
  rng: Random,
  answerRate: number,
): Promise<number> {
  let answered = 0;
  for (const link of surveyLinks(texts)) {
    if (!rng.chance(answerRate)) continue;
    const page = await fetch(link, { signal: AbortSignal.timeout(10_000) });
    const html = await page.text();
    if (page.status !== 200 || !html.includes('<form')) continue;
    const res = await fetch(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: chooseAnswers(html, rng).toString(),
      signal: AbortSignal.timeout(10_000),
    });
    await res.text();
    if (res.status === 200) answered++;
  }
  return answered;
}
