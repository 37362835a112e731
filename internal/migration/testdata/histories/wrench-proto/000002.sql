CREATE TABLE Orders (
  OrderId INT64 NOT NULL,
  Item examples.shop.Item,
  Color examples.shop.Color,
) PRIMARY KEY (OrderId);
