CREATE INDEX PlayersByName ON Players (Name);
ALTER TABLE Players ADD COLUMN Country STRING(2);
