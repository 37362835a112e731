CREATE TABLE Players (
  PlayerId INT64 NOT NULL,
  Name STRING(100) NOT NULL,
  CreatedAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (PlayerId);
