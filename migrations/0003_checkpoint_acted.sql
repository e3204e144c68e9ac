-- 0003: how far the mailbox actions went. A batch's rows and checkpoint
-- are committed before its messages are moved, flagged or deleted; acted_uid
-- is the last UID whose action was done, so that a daemon that stopped in
-- between does the actions of (acted_uid, last_uid] when it starts again.
ALTER TABLE checkpoint ADD COLUMN acted_uid bigint CHECK (acted_uid >= 0);
UPDATE checkpoint SET acted_uid = last_uid;
ALTER TABLE checkpoint ALTER COLUMN acted_uid SET NOT NULL, ALTER COLUMN acted_uid SET DEFAULT 0;
