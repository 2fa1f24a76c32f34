-- The operators, for closing an account (the last operator is kept): found
-- without reading every account.
CREATE INDEX accounts_operators ON accounts (id) WHERE operator;
