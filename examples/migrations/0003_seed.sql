-- DML of a file commits in one transaction with the file's history row.
INSERT INTO Customers (CustomerId, Name, Email) VALUES (1, 'Ada', 'ada@example.com'), (2, 'Grace', NULL);
INSERT INTO Orders (CustomerId, OrderId, Total, Note, CreatedAt)
VALUES (1, 1, NUMERIC '12.50', 'first; with a semicolon', PENDING_COMMIT_TIMESTAMP());
