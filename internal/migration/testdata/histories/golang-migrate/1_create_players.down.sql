DROP TABLE Players;
