-- spangate:proto-descriptors shop.pb
CREATE PROTO BUNDLE (examples.shop.Item, examples.shop.Color);
