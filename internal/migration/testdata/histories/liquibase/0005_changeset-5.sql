-- liquibase formatted sql

-- changeset alice:5
UPDATE Players SET Country = 'DE' WHERE PlayerId > 10;
ALTER TABLE Players ALTER COLUMN Country STRING(2) NOT NULL;
