/**
 * The worklist (docs/programme.md, "Worklist"): the care team's open Tasks ordered by urgency —
 * safety first, then outreach, follow-ups, overdue care-plan activities, surveys, patients who cannot
 * be reminded — each with who to call and why, filtered, searched and paged. Pure: the stored rows
 * and `now` in, the page out.
 */
import type { Patient, Task } from '@medplum/fhirtypes';
import { ownerName } from '../actions/care-team';
import { TERMINAL_TASK_STATUSES } from '../indicators/task-status';
import { taskDue } from './task-view';
import type { PatientIndicators } from '../indicators/compute';
import type { WorklistTask } from '../store/worklist';
import { patientHeader } from './patient-header';

export const WORK_KINDS = [
  'safety',
  'reply',
  'outreach',
  'follow-up',
  'overdue-activity',
  'survey',
  'no-channel',
] as const;
export type WorkKind = (typeof WORK_KINDS)[number];

const KIND_OF_RULE: Record<string, WorkKind> = {
  'phq9-item9-safety': 'safety',
  'patient-reply': 'reply',
  'outreach-no-shows': 'outreach',
  'phq9-follow-up': 'follow-up',
  'overdue-activity': 'overdue-activity',
  'survey-assignment': 'survey',
  'post-visit-survey': 'survey',
  'reminder-no-channel': 'no-channel',
};

export const KIND_LABEL: Record<WorkKind, string> = {
  safety: 'Safety flags',
  reply: 'Patients who replied',
  outreach: 'Outreach due',
  'follow-up': 'Follow-ups due',
  'overdue-activity': 'Overdue care-plan activities',
  survey: 'Surveys open',
  'no-channel': 'Cannot be reminded',
};

export interface WorklistFilters {
  kind?: string;
  programme?: string;
  owner?: string;
  tier?: string;
  /** A name (any part), an MRN or other identifier value, or a birth date (YYYY-MM-DD). */
  search?: string;
  page: number;
  pageSize: number;
}

export interface WorklistRow {
  kind: WorkKind;
  sourceId: string;
  patientId: string;
  taskId: string | null;
  name: string | null;
  age: number | null;
  phone: string | null;
  why: string;
  since: string | null;
  due: string | null;
  owner: string | null;
  status: string | null;
  tier: string | null;
  programmes: string[];
}

/** Why, in words: the rule's reason with the patient's figures when they say more. */
function why(t: WorklistTask, ind: PatientIndicators | null): string {
  switch (t.rule) {
    case 'phq9-item9-safety':
      return `PHQ-9 item 9 answered positively${ind?.phq9.item9.date ? ` on ${ind.phq9.item9.date.slice(0, 10)}` : ''}: assess today`;
    case 'outreach-no-shows':
      return `${ind?.appointments.noShowsRecent ?? 'several'} missed appointments recently: reach out`;
    case 'phq9-follow-up':
      return `PHQ-9 ${ind?.phq9.latest ? `${ind.phq9.latest.total} (${ind.phq9.latest.band})` : 'score'}: follow-up due${ind?.phq9.followUp.dueSince ? ` since ${ind.phq9.followUp.dueSince.slice(0, 10)}` : ''}`;
    case 'overdue-activity':
      return 'a care-plan activity is overdue';
    case 'survey-assignment':
      return `${(t.identifierValue.split('/')[2] ?? 'survey').toUpperCase()} survey open, not answered yet`;
    case 'post-visit-survey':
      return 'post-visit feedback survey open, not answered yet';
    case 'patient-reply':
      return 'replied to a message: read the reply on their page and answer';
    default:
      return 'no phone, SMS or email on file to remind of an upcoming visit';
  }
}

/** When a survey window closes: its first day (in the identifier) plus the window's days. */
function dueOf(t: WorklistTask, windowDays: number): string | null {
  const day = t.rule === 'survey-assignment' ? t.identifierValue.split('/')[3] : undefined;
  const start = day ? Date.parse(`${day}T00:00:00Z`) : Number.NaN;
  return Number.isNaN(start) ? null : new Date(start + windowDays * 86_400_000).toISOString();
}

function matches(t: WorklistTask, row: WorklistRow, search: string): boolean {
  const needle = search.trim().toLowerCase();
  if (!needle) return true;
  const p = t.patient as Patient | null;
  if (/^\d{4}-\d{2}-\d{2}$/.test(needle)) return p?.birthDate === needle;
  if ((p?.identifier ?? []).some((i) => i.value?.toLowerCase() === needle)) return true;
  return (row.name ?? '').toLowerCase().includes(needle);
}

export function worklist(
  tasks: readonly WorklistTask[],
  filters: WorklistFilters,
  windowDays: number,
  now: Date,
): { total: number; counts: Record<WorkKind, number>; rows: WorklistRow[]; owners: string[]; programmes: string[] } {
  const all: WorklistRow[] = [];
  // What the owner and programme filters can choose from: every open Task's, whatever the filters.
  const owners = new Set<string>();
  const programmes = new Set<string>();
  for (const t of tasks) {
    const kind = KIND_OF_RULE[t.rule];
    // The EMR's Task as last read decides: one a person ended there is off the list before any run notices.
    const emr = (t.task ?? undefined) as Task | undefined;
    const status = emr?.status ?? t.status;
    if (!kind || (status && TERMINAL_TASK_STATUSES.has(status))) continue;
    const owner = ownerName(emr?.owner) ?? t.owner;
    const header = patientHeader((t.patient ?? undefined) as Patient | undefined, t.programmes, now);
    const row: WorklistRow = {
      kind,
      sourceId: t.sourceId,
      patientId: t.patientId,
      taskId: t.serverId,
      name: header.name,
      age: header.age,
      phone: header.phone,
      why: why(t, t.indicators as PatientIndicators | null),
      since: t.since?.toISOString() ?? null,
      due: (emr && taskDue(emr)) ?? dueOf(t, windowDays),
      owner,
      status,
      tier: t.tier,
      programmes: t.programmes,
    };
    if (owner) owners.add(owner);
    for (const p of t.programmes) programmes.add(p);
    if (filters.programme && !t.programmes.includes(filters.programme)) continue;
    if (filters.owner && (owner ?? 'unassigned') !== filters.owner) continue;
    if (filters.tier && t.tier !== filters.tier) continue;
    if (filters.search && !matches(t, row, filters.search)) continue;
    all.push(row);
  }
  const counts = Object.fromEntries(WORK_KINDS.map((k) => [k, all.filter((r) => r.kind === k).length])) as Record<
    WorkKind,
    number
  >;
  const shown = all
    .filter((r) => !filters.kind || r.kind === filters.kind)
    // Urgency first, then the longest waiting.
    .sort(
      (a, b) =>
        WORK_KINDS.indexOf(a.kind) - WORK_KINDS.indexOf(b.kind) ||
        (a.since ?? '').localeCompare(b.since ?? '') ||
        a.patientId.localeCompare(b.patientId),
    );
  const start = (filters.page - 1) * filters.pageSize;
  return {
    total: shown.length,
    counts,
    rows: shown.slice(start, start + filters.pageSize),
    owners: [...owners].sort(),
    programmes: [...programmes].sort(),
  };
}

const csvCell = (v: unknown): string =>
  v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v);

export function worklistCsv(rows: readonly WorklistRow[]): string {
  const head = [
    'section',
    'source',
    'patient id',
    'name',
    'age',
    'phone',
    'why',
    'since',
    'due',
    'owner',
    'status',
    'tier',
    'programmes',
  ];
  const lines = rows.map((r) =>
    [
      KIND_LABEL[r.kind],
      r.sourceId,
      r.patientId,
      r.name,
      r.age,
      r.phone,
      r.why,
      r.since,
      r.due,
      r.owner ?? 'unassigned',
      r.status,
      r.tier,
      r.programmes.join(' '),
    ]
      .map(csvCell)
      .join(','),
  );
  return `${[head.join(','), ...lines].join('\n')}\n`;
}
