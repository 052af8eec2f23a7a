-- Patients whose stored data changed since their indicators were last computed. Marked in the same
-- statement that stores a changed resource, cleared in the transaction that commits the patient's
-- indicators: a run that finds nothing new reads this small table instead of scanning every resource.
CREATE TABLE patients_to_compute (
  source_id   text NOT NULL,
  patient_id  text NOT NULL,
  PRIMARY KEY (source_id, patient_id)
);

-- A store upgraded from an earlier version: what that version would have recomputed.
INSERT INTO patients_to_compute (source_id, patient_id)
SELECT r.source_id, r.patient_id FROM resources r
LEFT JOIN patient_models m ON m.source_id = r.source_id AND m.patient_id = r.patient_id
WHERE r.patient_id IS NOT NULL
GROUP BY r.source_id, r.patient_id, m.updated_at
HAVING m.updated_at IS NULL OR max(r.updated_at) > m.updated_at;
