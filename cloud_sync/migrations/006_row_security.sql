-- Each Pi's login sees and changes only its own device's rows: a stolen Pi's password
-- cannot read another farm's goats, rename them, null their measurements, forge their
-- heartbeats or insert captures under their device id. device_logins says which device
-- a login writes as (goat-sync add-device); a login not listed there sees nothing.
-- Table owners (the admin who migrates) are not subject to these policies.
CREATE TABLE device_logins (
    role_name name PRIMARY KEY,
    device_id text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON device_logins FROM PUBLIC;

-- SECURITY DEFINER so a device can learn its own id without reading the whole mapping;
-- session_user, not current_user, so SET ROLE goat_device does not change who it is.
CREATE FUNCTION goat_login_device() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT
    AS $$ SELECT device_id FROM device_logins WHERE role_name = session_user $$;
REVOKE ALL ON FUNCTION goat_login_device() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION goat_login_device() TO goat_device;

ALTER TABLE devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE goats ENABLE ROW LEVEL SECURITY;
ALTER TABLE captures ENABLE ROW LEVEL SECURITY;
ALTER TABLE measurements ENABLE ROW LEVEL SECURITY;
ALTER TABLE scale_weights ENABLE ROW LEVEL SECURITY;

CREATE POLICY own_device ON devices TO goat_device
    USING (id = goat_login_device()) WITH CHECK (id = goat_login_device());
CREATE POLICY own_goats ON goats TO goat_device
    USING (device_id = goat_login_device()) WITH CHECK (device_id = goat_login_device());
-- A capture may name only a goat of its own device (the subquery sees only those).
CREATE POLICY own_captures ON captures TO goat_device
    USING (device_id = goat_login_device())
    WITH CHECK (device_id = goat_login_device() AND (goat_id IS NULL OR goat_id IN (SELECT id FROM goats)));
CREATE POLICY own_measurements ON measurements TO goat_device
    USING (capture_id IN (SELECT id FROM captures)) WITH CHECK (capture_id IN (SELECT id FROM captures));
CREATE POLICY own_scale_weights ON scale_weights TO goat_device
    USING (goat_id IN (SELECT id FROM goats)) WITH CHECK (goat_id IN (SELECT id FROM goats));
