-- Each measurement's 90 % ± (edge/measure/uncertainty.py), by measurement name, in the
-- measurement's own unit; {} for rows from Pis without a fitted uncertainty model.
ALTER TABLE measurements ADD COLUMN uncertainty jsonb NOT NULL DEFAULT '{}'::jsonb;
