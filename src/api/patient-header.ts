/**
 * Who the patient is, as a care manager needs it on screen: name, age, sex, phone, preferred language
 * and programmes. Patient data: only routes that record the read in the access log return it. Pure.
 */
import type { Patient } from '@medplum/fhirtypes';

export interface PatientHeader {
  name: string | null;
  age: number | null;
  sex: string | null;
  phone: string | null;
  language: string | null;
  programmes: string[];
}

const YEAR_MS = 365.25 * 86_400_000;

export function patientHeader(patient: Patient | undefined, programmes: string[], now: Date): PatientHeader {
  const name = patient?.name?.find((n) => n.use === 'official') ?? patient?.name?.[0];
  const birth = patient?.birthDate ? Date.parse(patient.birthDate) : Number.NaN;
  const live = (patient?.telecom ?? []).filter(
    (t) => t.value && !(t.period?.end && Date.parse(t.period.end) < now.getTime()),
  );
  const phone = live.find((t) => t.system === 'phone' || t.system === 'sms');
  const language = patient?.communication?.find((c) => c.preferred)?.language ?? patient?.communication?.[0]?.language;
  return {
    name: name ? (name.text ?? [...(name.given ?? []), name.family].filter(Boolean).join(' ')) || null : null,
    age: Number.isNaN(birth) ? null : Math.floor((now.getTime() - birth) / YEAR_MS),
    sex: patient?.gender ?? null,
    phone: phone?.value ?? null,
    language: language?.text ?? language?.coding?.[0]?.display ?? language?.coding?.[0]?.code ?? null,
    programmes,
  };
}
