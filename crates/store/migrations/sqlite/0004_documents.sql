-- Documents pending (R-LS3): what staff asked the customer for.
ALTER TABLE applications ADD COLUMN documents_note TEXT;
