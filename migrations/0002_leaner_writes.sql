-- 0002: fewer indexes and checks to maintain on every write, for the write
-- throughput README.md "Store figures" reports. Every query of the README
-- and of the store keeps an index.

-- A recipient row is known by its message and its place in it: the
-- surrogate id and its index go.
ALTER TABLE bounce DROP COLUMN id;
DROP INDEX bounce_message_position;
ALTER TABLE bounce ADD CONSTRAINT bounce_pkey PRIMARY KEY (message, position);

-- One index by recipient serves both `bounced show` and the suppression
-- upkeep, which reads what it needs from the index alone.
DROP INDEX bounce_recipient;
DROP INDEX bounce_recipient_scope;
CREATE INDEX bounce_recipient ON bounce (recipient, bounced_at)
    INCLUDE (kind, scope, cause, severity, message);

-- By domain, queries go through bounced_at (a period) or the suppression
-- table; the notice's own Message-ID is not looked up.
DROP INDEX bounce_domain;
DROP INDEX message_message_id;

-- The store writes a message, its raw source and its recipient rows in one
-- transaction and deletes them together (bounced cleanup), so the foreign
-- keys only cost a lookup per row. message_raw.message and bounce.message
-- still hold a message.id.
ALTER TABLE bounce DROP CONSTRAINT bounce_message_fkey;
ALTER TABLE message_raw DROP CONSTRAINT message_raw_message_fkey;
