-- Bulk Data IG v2: a manifest's `deleted` files (Bundles of DELETE requests on `_since` exports) are
-- read like the others. What a file held beyond resources is counted with its progress, so that a
-- crash between storing an error file and the end of the export still knows which types the server
-- could not export (their watermarks must not move) and how many resources were deleted.
ALTER TABLE bulk_export_files DROP CONSTRAINT bulk_export_files_kind_check;
ALTER TABLE bulk_export_files ADD CONSTRAINT bulk_export_files_kind_check CHECK (kind IN ('output', 'error', 'deleted'));
ALTER TABLE bulk_export_files ADD COLUMN counts jsonb NOT NULL DEFAULT '{}'::jsonb;
