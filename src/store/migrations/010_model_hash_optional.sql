-- Nothing reads a model's hash, and hashing every patient's model canonically cost a recompute
-- several percent of its time: new rows leave it empty.
ALTER TABLE patient_models ALTER COLUMN model_hash DROP NOT NULL;
