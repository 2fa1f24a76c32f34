-- Every login updates its factor's last step and its login row (and, on
-- success, the account's code counter). Room left in each page lets
-- PostgreSQL keep the new row version beside the old one, without touching
-- the indexes (a HOT update). Pages written from now on keep a fifth free.
ALTER TABLE factors SET (fillfactor = 80);
ALTER TABLE logins SET (fillfactor = 80);
ALTER TABLE throttles SET (fillfactor = 80);
