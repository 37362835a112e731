-- Orders and their lines. Both tables and the index go out in one schema
-- operation together with 0002: the index is on a table created in the same
-- batch, so it needs no backfill.
CREATE TABLE Customers (
  CustomerId INT64 NOT NULL,
  Name       STRING(200) NOT NULL,
  Email      STRING(320),
) PRIMARY KEY (CustomerId);

CREATE TABLE Orders (
  CustomerId INT64 NOT NULL,
  OrderId    INT64 NOT NULL,
  Total      NUMERIC,
  Note       STRING(MAX),
  CreatedAt  TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (CustomerId, OrderId),
  INTERLEAVE IN PARENT Customers ON DELETE CASCADE;

CREATE INDEX OrdersByCreatedAt ON Orders (CreatedAt DESC);
