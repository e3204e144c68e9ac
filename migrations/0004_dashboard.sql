-- 0004: what the HTTP API and the dashboard read.

-- Counts per day and recipient domain, kept on write beside bounce_day, so
-- that the domains with most bounces over a period are read from a few
-- thousand rows a day instead of the recipient rows. Like bounce_day they
-- outlive the rows `bounced cleanup` deletes.
CREATE TABLE bounce_domain_day (
    day        date    NOT NULL,
    domain     text    NOT NULL,
    -- failed recipients, by severity, and those of recipient scope
    bounces    integer NOT NULL DEFAULT 0,
    hard       integer NOT NULL DEFAULT 0,
    soft       integer NOT NULL DEFAULT 0,
    recipient  integer NOT NULL DEFAULT 0,
    delays     integer NOT NULL DEFAULT 0,
    complaints integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, domain)
);
INSERT INTO bounce_domain_day (day, domain, bounces, hard, soft, recipient, delays, complaints)
SELECT (bounced_at AT TIME ZONE 'UTC')::date, domain,
    count(*) FILTER (WHERE kind = 'bounce'),
    count(*) FILTER (WHERE kind = 'bounce' AND severity = 'hard'),
    count(*) FILTER (WHERE kind = 'bounce' AND severity = 'soft'),
    count(*) FILTER (WHERE kind = 'bounce' AND scope = 'recipient'),
    count(*) FILTER (WHERE kind = 'delay'),
    count(*) FILTER (WHERE kind = 'complaint')
FROM bounce GROUP BY 1, 2;

-- What each mailbox's worker last reported: written every few seconds by
-- the instance of `bounced run` that works the mailbox, read by the
-- dashboard and /api/v1/mailboxes of any instance.
CREATE TABLE mailbox_status (
    account      text        NOT NULL,
    mailbox      text        NOT NULL,
    -- host and process id of the instance that reported
    instance     text        NOT NULL,
    active       boolean     NOT NULL,
    -- the last time the mailbox was listed for new mail, and read to its end
    last_poll    timestamptz,
    last_success timestamptz,
    -- messages waiting at the last poll
    lag          bigint      NOT NULL DEFAULT 0 CHECK (lag >= 0),
    -- the last error, '' after a success
    error        text        NOT NULL DEFAULT '',
    error_at     timestamptz,
    -- messages stored by the instance since it started
    processed    bigint      NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, mailbox)
);

-- The recipient rows of a domain, newest first: the API's and the
-- dashboard's bounce lists filter by domain (0002 dropped this index when
-- only periods were asked for).
CREATE INDEX bounce_domain ON bounce (domain, bounced_at);
