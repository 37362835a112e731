-- liquibase formatted sql

-- changeset alice:3
START BATCH DDL;
CREATE TABLE Scores (
  PlayerId INT64 NOT NULL,
  GameId INT64 NOT NULL,
  Score INT64 NOT NULL,
) PRIMARY KEY (PlayerId, GameId),
  INTERLEAVE IN PARENT Players ON DELETE CASCADE;
CREATE INDEX ScoresByGame ON Scores (PlayerId, GameId, Score DESC), INTERLEAVE IN Players;
RUN BATCH;
