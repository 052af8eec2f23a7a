/**
 * Care-plan indicators. Completion rate = completed ÷ activities due, where an
 * activity is due when its due date has passed or it is completed (finished
 * early counts). Overdue = due date passed and neither completed nor
 * cancelled. Activities without a due date are never overdue. See
 * docs/indicators.md.
 */
import type { ActivityItem, EngagementModel } from '../mapping/model';
import { ms, round } from './time';

export interface PlanCompletion {
  due: number;
  completed: number;
  completionRate: number | null;
  overdue: string[];
}

export interface CarePlanIndicators extends PlanCompletion {
  activities: number;
  perPlan: Record<string, PlanCompletion>;
}

function completion(items: ActivityItem[], now: number): PlanCompletion {
  const live = items.filter((a) => a.status !== 'cancelled');
  const pastDue = (a: ActivityItem): boolean => (ms(a.due) ?? Infinity) < now;
  const due = live.filter((a) => a.status === 'completed' || pastDue(a));
  const completed = due.filter((a) => a.status === 'completed').length;
  const overdue = live
    .filter((a) => a.status === 'overdue' || (a.status !== 'completed' && pastDue(a)))
    .map((a) => a.id);
  return { due: due.length, completed, completionRate: due.length > 0 ? round(completed / due.length) : null, overdue };
}

export function carePlanIndicators(model: EngagementModel, now: Date): CarePlanIndicators {
  const t = now.getTime();
  const perPlan: Record<string, PlanCompletion> = {};
  for (const planId of [...new Set(model.activities.map((a) => a.planId))].sort()) {
    perPlan[planId] = completion(
      model.activities.filter((a) => a.planId === planId),
      t,
    );
  }
  return { activities: model.activities.length, ...completion(model.activities, t), perPlan };
}
