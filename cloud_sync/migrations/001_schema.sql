-- The cloud's copy of every Pi's records. Rows are keyed by the edge's UUIDs, so a row
-- sent twice is the same row (INSERT ... ON CONFLICT), whichever Pi or retry sent it.

CREATE TABLE devices (
    id text PRIMARY KEY,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    pending_count integer NOT NULL DEFAULT 0,
    oldest_pending_age_s double precision
);

CREATE TABLE goats (
    id uuid PRIMARY KEY,
    device_id text NOT NULL REFERENCES devices (id),
    tag text NOT NULL,
    name text,
    breed text,
    sex text CHECK (sex IN ('female', 'male', 'wether')),
    birth_date date,
    notes text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX goats_tag ON goats (tag);

CREATE TABLE captures (
    id uuid PRIMARY KEY,
    device_id text NOT NULL REFERENCES devices (id),
    capture_key text NOT NULL UNIQUE,
    captured_at timestamptz NOT NULL,
    status text NOT NULL CHECK (status IN ('ok', 'retake')),
    reason text,
    goat_id uuid REFERENCES goats (id),
    trigger text NOT NULL,
    images jsonb NOT NULL,  -- [{view, kind, bucket, key, sha256, bytes}] of the uploaded photos
    created_at timestamptz NOT NULL
);
CREATE INDEX captures_goat ON captures (goat_id, captured_at);

CREATE TABLE measurements (
    capture_id uuid PRIMARY KEY REFERENCES captures (id),
    body_length_cm double precision,
    withers_height_cm double precision,
    rump_height_cm double precision,
    chest_depth_cm double precision,
    chest_width_cm double precision,
    hip_width_cm double precision,
    heart_girth_cm double precision,
    weight_kg double precision,
    reasons jsonb NOT NULL,
    model_versions jsonb NOT NULL,
    calibration_hash text,
    weight_formula jsonb
);

CREATE TABLE scale_weights (
    id uuid PRIMARY KEY,
    goat_id uuid NOT NULL REFERENCES goats (id),
    weight_kg double precision NOT NULL CHECK (weight_kg > 0),
    weighed_at timestamptz NOT NULL,
    notes text,
    created_at timestamptz NOT NULL
);
CREATE INDEX scale_weights_goat ON scale_weights (goat_id, weighed_at);
