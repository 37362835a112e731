CREATE UNIQUE NULL_FILTERED INDEX CustomersByEmail ON Customers (Email);
