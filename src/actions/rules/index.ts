/**
 * Every write-back rule, in the order its writes are planned (safety first; writes are then sorted by
 * priority): a new rule goes in a module of src/actions/rules/ and in this list, with its name in
 * RuleName (config/action-settings.ts) and its close reason in plan.ts.
 */
import type { RuleName } from '../../config/action-settings';
import type { Rule } from '../rule';
import { outreachNoShows, overdueActivity, phq9FollowUp, phq9Item9Safety } from './care-team';
import { appointmentAdherence, engagementScore, patientSatisfaction, questionnaireTotal } from './observations';
import { appointmentReminder, postVisitSurvey, surveyAssignment } from './patient-contact';

export const RULES: readonly { name: RuleName; plan: Rule }[] = [
  { name: 'phq9-item9-safety', plan: phq9Item9Safety },
  { name: 'outreach-no-shows', plan: outreachNoShows },
  { name: 'phq9-follow-up', plan: phq9FollowUp },
  { name: 'appointment-reminder', plan: appointmentReminder },
  { name: 'survey-assignment', plan: surveyAssignment },
  { name: 'post-visit-survey', plan: postVisitSurvey },
  { name: 'overdue-activity', plan: overdueActivity },
  { name: 'engagement-score', plan: engagementScore },
  { name: 'appointment-adherence', plan: appointmentAdherence },
  { name: 'patient-satisfaction', plan: patientSatisfaction },
  { name: 'questionnaire-total', plan: questionnaireTotal },
];
