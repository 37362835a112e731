ALTER TABLE Orders ADD COLUMN Channel STRING(20);

-- Partitioned DML: not atomic, may run more than once per row, so it must be
-- idempotent. It cannot INSERT.
-- spangate:partitioned
UPDATE Orders SET Channel = 'web' WHERE Channel IS NULL;
