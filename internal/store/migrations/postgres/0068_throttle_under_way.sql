-- Password slots still under way (core.takePasswordSlot): how many attempts
-- that took a slot on the counter have not ended, since when that count
-- runs, and until when it holds (a count whose attempts never ended, their
-- instance having stopped, holds no longer). An attempt on any instance
-- that meets the lock such a slot set waits for its outcome instead of
-- being refused. Other counters leave them at zero.
ALTER TABLE throttles ADD COLUMN under_way INTEGER NOT NULL DEFAULT 0;
ALTER TABLE throttles ADD COLUMN under_way_since BIGINT NOT NULL DEFAULT 0;
ALTER TABLE throttles ADD COLUMN under_way_until BIGINT NOT NULL DEFAULT 0;
