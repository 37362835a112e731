-- liquibase formatted sql

-- changeset alice:2
START BATCH DDL;
CREATE INDEX PlayersByName ON Players (Name);
ALTER TABLE Players ADD COLUMN Country STRING(2);
RUN BATCH;
