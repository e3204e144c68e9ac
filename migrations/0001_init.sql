-- 0001: the tables of bounced. README.md "Tables" describes them for users.

-- One row per analysed message, whatever its kind.
CREATE TABLE message (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Where it was read: the IMAP account and mailbox with UIDVALIDITY and
    -- UID, or account '' and mailbox 'import' with uid 0 for `bounced import`.
    account             text        NOT NULL,
    mailbox             text        NOT NULL,
    uid_validity        bigint      NOT NULL CHECK (uid_validity >= 0),
    uid                 bigint      NOT NULL CHECK (uid >= 0),
    -- SHA-256 of the raw message: imported messages are told apart by it.
    digest              bytea       NOT NULL CHECK (length(digest) = 32),
    size                bigint      NOT NULL CHECK (size >= 0),
    -- The file an imported message came from.
    source              text,
    received_at         timestamptz NOT NULL,
    stored_at           timestamptz NOT NULL DEFAULT now(),
    kind                text        NOT NULL CHECK (kind IN
                            ('bounce', 'delay', 'auto_reply', 'complaint', 'delivered', 'not_bounce')),
    format              text        NOT NULL DEFAULT '',
    -- The notice's own headers.
    message_id          text,
    sender              text        NOT NULL DEFAULT '',
    subject             text        NOT NULL DEFAULT '',
    -- The message that bounced: its Message-ID, and from, to, subject,
    -- date, list_id and the configured correlation headers ("headers").
    original_message_id text,
    original            jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(original) = 'object'),
    parse_error         text,
    parser_version      integer     NOT NULL
);
CREATE UNIQUE INDEX message_mailbox_uid ON message (account, mailbox, uid_validity, uid) WHERE uid > 0;
CREATE UNIQUE INDEX message_import_digest ON message (digest) WHERE uid = 0;
CREATE INDEX message_received_at ON message (received_at, id);
CREATE INDEX message_message_id ON message (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX message_original_message_id ON message (original_message_id) WHERE original_message_id IS NOT NULL;

-- The raw message, gzip-compressed, when [store] keep_raw is on. Kept apart
-- so that `bounced cleanup --raw-older-than` frees it and leaves the rest.
CREATE TABLE message_raw (
    message  bigint PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE,
    encoding text   NOT NULL CHECK (encoding IN ('gzip')),
    raw      bytea  NOT NULL
);
-- Already compressed: don't let TOAST try again.
ALTER TABLE message_raw ALTER COLUMN raw SET STORAGE EXTERNAL;

-- One row per failed or delayed recipient of a bounce or delay, and per
-- complaining recipient of a complaint.
CREATE TABLE bounce (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message            bigint      NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    -- The recipient's place in the notice, from 0.
    position           smallint    NOT NULL CHECK (position >= 0),
    -- The notice's Message-ID: the same notice read from two mailboxes
    -- keeps one row per recipient.
    notice_id          text,
    kind               text        NOT NULL CHECK (kind IN ('bounce', 'delay', 'complaint')),
    recipient          text        NOT NULL,
    domain             text        NOT NULL,
    original_recipient text,
    action             text        NOT NULL CHECK (action IN
                           ('failed', 'delayed', 'delivered', 'relayed', 'expanded', 'complained', '')),
    status             text        CHECK (status ~ '^[245]\.[0-9]{1,3}\.[0-9]{1,3}$'),
    reply_code         smallint    CHECK (reply_code BETWEEN 200 AND 599),
    diagnostic         text        NOT NULL DEFAULT '',
    command            text,
    remote_mta         text,
    reporting_mta      text,
    -- The classification; a complaint has none.
    cause              text        CHECK (cause IN
                           ('bad_address', 'bad_domain', 'mailbox_disabled', 'mailbox_full', 'oversize',
                            'spam_content', 'virus', 'blocklisted', 'auth_failure', 'policy', 'rate_limited',
                            'expired', 'network_error', 'server_error', 'protocol_error', 'unknown')),
    severity           text        CHECK (severity IN ('hard', 'soft')),
    scope              text        NOT NULL CHECK (scope IN ('recipient', 'message', 'sender', 'transport', 'unknown')),
    rule               text        NOT NULL,
    -- A complaint's feedback type (abuse, fraud, ...).
    feedback_type      text,
    -- When it bounced: the last attempt, else the notice's date, else when
    -- it was received.
    bounced_at         timestamptz NOT NULL,
    CONSTRAINT bounce_complaint_has_no_cause CHECK ((kind = 'complaint') = (cause IS NULL)),
    CONSTRAINT bounce_cause_with_severity CHECK ((cause IS NULL) = (severity IS NULL))
);
CREATE UNIQUE INDEX bounce_message_position ON bounce (message, position);
CREATE UNIQUE INDEX bounce_notice_recipient ON bounce (notice_id, recipient) WHERE notice_id IS NOT NULL;
CREATE INDEX bounce_recipient ON bounce (recipient, bounced_at);
-- The suppression upkeep reads an address's recipient-scope rows from this
-- index alone.
CREATE INDEX bounce_recipient_scope ON bounce (recipient, bounced_at)
    INCLUDE (kind, cause, severity, message) WHERE scope = 'recipient';
CREATE INDEX bounce_domain ON bounce (domain, bounced_at);
CREATE INDEX bounce_bounced_at ON bounce (bounced_at);

-- Counts per day, kept on write, for `bounced stats`: they outlive the rows
-- that `bounced cleanup` deletes.
CREATE TABLE bounce_day (
    day      date    NOT NULL,
    kind     text    NOT NULL CHECK (kind IN ('bounce', 'delay', 'complaint')),
    cause    text    NOT NULL CHECK (cause IN ('',  -- '' for complaints
                 'bad_address', 'bad_domain', 'mailbox_disabled', 'mailbox_full', 'oversize',
                 'spam_content', 'virus', 'blocklisted', 'auth_failure', 'policy', 'rate_limited',
                 'expired', 'network_error', 'server_error', 'protocol_error', 'unknown')),
    severity text    NOT NULL CHECK (severity IN ('', 'hard', 'soft')),
    n        bigint  NOT NULL CHECK (n >= 0),
    PRIMARY KEY (day, kind, cause, severity)
);

-- Where reading stopped in each mailbox.
CREATE TABLE checkpoint (
    account      text        NOT NULL,
    mailbox      text        NOT NULL,
    uid_validity bigint      NOT NULL CHECK (uid_validity > 0),
    last_uid     bigint      NOT NULL CHECK (last_uid >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, mailbox)
);

-- The addresses to stop mailing, kept on write by the suppression policy
-- (README.md "Suppression"), with the evidence.
CREATE TABLE suppression (
    address       text        PRIMARY KEY,
    domain        text        NOT NULL,
    reason        text        NOT NULL CHECK (reason IN
                      ('bad_address', 'bad_domain', 'mailbox_disabled', 'mailbox_full', 'complaint')),
    -- When the policy was met: the time of the bounce that met it.
    suppressed_at timestamptz NOT NULL,
    first_bounce  timestamptz NOT NULL,
    last_bounce   timestamptz NOT NULL,
    bounce_count  integer     NOT NULL CHECK (bounce_count > 0),
    -- The message of the last bounce counted (no foreign key: the
    -- suppression outlives retention).
    last_message  bigint,
    rule          text        NOT NULL DEFAULT '',
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT suppression_first_before_last CHECK (first_bounce <= last_bounce)
);
CREATE INDEX suppression_suppressed_at ON suppression (suppressed_at);
CREATE INDEX suppression_domain ON suppression (domain, suppressed_at);

-- Addresses released by `bounced unsuppress`, kept for audit. Only bounces
-- after a release count again.
CREATE TABLE release (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address           text        NOT NULL,
    released_at       timestamptz NOT NULL DEFAULT now(),
    reason            text        NOT NULL CHECK (reason <> ''),
    released_by       text        NOT NULL DEFAULT '',
    -- The suppression lifted, if there was one.
    was_reason        text,
    was_suppressed_at timestamptz,
    was_count         integer
);
CREATE INDEX release_address ON release (address, released_at);

-- Settings the store keeps for itself, such as the fingerprint of the
-- suppression policy the suppression table was built with.
CREATE TABLE setting (
    name  text PRIMARY KEY,
    value text NOT NULL
);
