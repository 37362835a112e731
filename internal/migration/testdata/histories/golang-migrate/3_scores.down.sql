DROP INDEX ScoresByGame;
DROP TABLE Scores;
