INSERT INTO Orders (OrderId) VALUES (1);
