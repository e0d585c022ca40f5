-- Measurements a person took by hand on a goat (the edge's tape_measurements): the farm's
-- truth for the camera's centimetres, kept beside the goat's records. A Pi's login reaches
-- only those of its own device's goats, as for scale weights (006_row_security.sql).
CREATE TABLE tape_measurements (
    id uuid PRIMARY KEY,
    goat_id uuid NOT NULL REFERENCES goats (id),
    measured_at timestamptz NOT NULL,
    name text NOT NULL CHECK (name IN ('body_length_cm', 'withers_height_cm', 'rump_height_cm',
        'chest_depth_cm', 'chest_width_cm', 'hip_width_cm', 'heart_girth_cm')),
    value_cm double precision NOT NULL CHECK (value_cm > 0 AND value_cm < 400),
    notes text,
    created_at timestamptz NOT NULL
);
CREATE INDEX tape_measurements_goat ON tape_measurements (goat_id, measured_at);

REVOKE ALL ON tape_measurements FROM goat_device;
GRANT SELECT, INSERT, UPDATE ON tape_measurements TO goat_device;
ALTER TABLE tape_measurements ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_tape_measurements ON tape_measurements TO goat_device
    USING (goat_id IN (SELECT id FROM goats)) WITH CHECK (goat_id IN (SELECT id FROM goats));
