-- What a Pi may do: insert and update the rows it syncs, read only those tables (ON
-- CONFLICT DO UPDATE must see the row it updates), never delete. Each Pi logs in as its
-- own role that is a member of goat_device (docs/sync.md).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'goat_device') THEN
        CREATE ROLE goat_device NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON devices, goats, captures, measurements, scale_weights FROM goat_device;
GRANT SELECT, INSERT, UPDATE ON devices, goats, captures, measurements, scale_weights TO goat_device;
REVOKE ALL ON goat_schema_migrations FROM goat_device;
