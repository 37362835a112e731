-- liquibase formatted sql

-- changeset alice:4
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (1, 'player1', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (2, 'player2', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (3, 'player3', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (4, 'player4', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (5, 'player5', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (6, 'player6', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (7, 'player7', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (8, 'player8', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (9, 'player9', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (10, 'player10', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (11, 'player11', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (12, 'player12', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (13, 'player13', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (14, 'player14', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (15, 'player15', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (16, 'player16', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (17, 'player17', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (18, 'player18', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (19, 'player19', PENDING_COMMIT_TIMESTAMP(), 'NL');
INSERT INTO Players (PlayerId, Name, CreatedAt, Country) VALUES (20, 'player20', PENDING_COMMIT_TIMESTAMP(), 'NL');
