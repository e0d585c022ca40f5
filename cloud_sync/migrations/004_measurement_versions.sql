-- A capture may be measured again with newer models (goat-edge reprocess): each measuring
-- is a row of its own, the newest per capture marked current, the older ones kept. A
-- capture's first measuring keeps the capture's id as its own, as on the Pi.
ALTER TABLE measurements ADD COLUMN id uuid;
UPDATE measurements SET id = capture_id;
ALTER TABLE measurements ALTER COLUMN id SET NOT NULL;
ALTER TABLE measurements DROP CONSTRAINT measurements_pkey;
ALTER TABLE measurements ADD PRIMARY KEY (id);
ALTER TABLE measurements ADD COLUMN measured_at timestamptz;
UPDATE measurements m SET measured_at = c.captured_at FROM captures c WHERE c.id = m.capture_id;
ALTER TABLE measurements ALTER COLUMN measured_at SET NOT NULL;
ALTER TABLE measurements ADD COLUMN is_current boolean NOT NULL DEFAULT true;
CREATE UNIQUE INDEX measurements_one_current ON measurements (capture_id) WHERE is_current;
CREATE INDEX measurements_by_capture ON measurements (capture_id, measured_at);
