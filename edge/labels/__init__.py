"""The farm's own photos out for labelling, and the corrected labels back in (docs/farm-data.md)."""
