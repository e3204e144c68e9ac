package fetch

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestParseAction(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want Action
	}{
		{"none", Action{Op: None}},
		{"seen", Action{Op: Seen}},
		{"flag", Action{Op: Flag}},
		{"delete", Action{Op: Delete}},
		{"move:Bounces", Action{Op: Move, Folder: "Bounces"}},
		{"move:Archive/Bounces 2024", Action{Op: Move, Folder: "Archive/Bounces 2024"}},
		{"move:a:b", Action{Op: Move, Folder: "a:b"}},
	}
	for _, tt := range good {
		got, err := ParseAction(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseAction(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if s := got.String(); s != tt.in {
			t.Errorf("ParseAction(%q).String() = %q", tt.in, s)
		}
	}
	for _, in := range []string{"", "move:", "move", "Seen", "expunge", "delete "} {
		if got, err := ParseAction(in); err == nil {
			t.Errorf("ParseAction(%q) = %+v, want an error", in, got)
		} else if !strings.Contains(err.Error(), "move:") {
			t.Errorf("ParseAction(%q): error %q does not say what is expected", in, err)
		}
	}
}

// threeMessages adds three messages to INBOX and returns their bodies by UID.
func threeMessages(t *testing.T, ts *testServer) map[uint32][]byte {
	t.Helper()
	bodies := map[uint32][]byte{}
	for i := 1; i <= 3; i++ {
		b := message(i, "")
		bodies[ts.add(t, "INBOX", nil, b)[0]] = b
	}
	return bodies
}

func TestApplyFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		action string
		flag   imap.Flag
	}{
		{"seen", imap.FlagSeen},
		{"flag", imap.FlagFlagged},
	}
	for _, tt := range tests {
		t.Run(tt.action, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, serverOptions{})
			threeMessages(t, ts)
			c := dialInbox(t, ts)
			a, _ := ParseAction(tt.action)
			if err := c.Apply(context.Background(), []uint32{1, 3}, a); err != nil {
				t.Fatal(err)
			}
			msgs := ts.messages(t, "INBOX")
			if len(msgs) != 3 {
				t.Fatalf("%d messages left, want 3", len(msgs))
			}
			for uid, m := range msgs {
				if want := uid != 2; m.has(tt.flag) != want {
					t.Errorf("UID %d flags %v, want %s: %v", uid, m.Flags, tt.flag, want)
				}
			}
		})
	}
}

func TestApplyNone(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	threeMessages(t, ts)
	c := dialInbox(t, ts)
	before := ts.sent.String()
	if err := c.Apply(context.Background(), []uint32{1, 2}, Action{Op: None}); err != nil {
		t.Fatal(err)
	}
	if after := ts.sent.String(); after != before {
		t.Errorf("none sent %q", strings.TrimPrefix(after, before))
	}
}

func TestApplyDelete(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	threeMessages(t, ts)
	// Someone else's message flagged \Deleted: not ours to expunge.
	other := ts.add(t, "INBOX", []imap.Flag{imap.FlagDeleted}, message(4, ""))[0]
	c := dialInbox(t, ts)
	if err := c.Apply(context.Background(), []uint32{2}, Action{Op: Delete}); err != nil {
		t.Fatal(err)
	}
	msgs := ts.messages(t, "INBOX")
	if _, ok := msgs[2]; ok || len(msgs) != 3 {
		t.Errorf("INBOX has UIDs %v, want 1, 3, %d", keys(msgs), other)
	}
	if !msgs[other].has(imap.FlagDeleted) {
		t.Errorf("the other message lost \\Deleted: %v", msgs[other].Flags)
	}
	if got := ts.commands("UID EXPUNGE"); len(got) != 1 || !strings.HasSuffix(got[0], "UID EXPUNGE 2\r") {
		t.Errorf("UID EXPUNGE commands %q, want one for UID 2", got)
	}
	if got := ts.commands("EXPUNGE"); len(got) != 0 {
		t.Errorf("plain EXPUNGE sent: %q", got)
	}
}

func TestApplyDeleteWithoutUIDPlus(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{caps: capsRev1Alone})
	threeMessages(t, ts)
	c := dialInbox(t, ts)
	if err := c.Apply(context.Background(), []uint32{2}, Action{Op: Delete}); err != nil {
		t.Fatal(err)
	}
	msgs := ts.messages(t, "INBOX")
	if len(msgs) != 3 || !msgs[2].has(imap.FlagDeleted) || msgs[1].has(imap.FlagDeleted) {
		t.Errorf("INBOX flags %v, want UIDs 1-3 with only 2 \\Deleted", flagsByUID(msgs))
	}
	if got := append(ts.commands("EXPUNGE"), ts.commands("UID EXPUNGE")...); len(got) != 0 {
		t.Errorf("EXPUNGE sent without UIDPLUS: %q", got)
	}
}

func TestCaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		caps imap.CapSet
		want Caps
	}{
		{"full", capsFull, Caps{Move: true, UIDPlus: true, Idle: true}},
		{"uidplus", capsUIDPlus, Caps{UIDPlus: true, Idle: true}},
		{"rev1", capsRev1Alone, Caps{Idle: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, serverOptions{caps: tt.caps})
			c := mustDial(t, ts.account())
			if got := c.Caps(); got != tt.want {
				t.Errorf("Caps = %+v, want %+v", got, tt.want)
			}
			if got := c.imap.Caps().Has(imap.CapMove); got != tt.want.Move {
				t.Errorf("imapclient thinks MOVE is %v", got)
			}
		})
	}
}

func TestApplyMove(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		caps imap.CapSet
		// what the server must have been sent, and must not
		want, wantNot []string
		// whether the moved messages are gone from INBOX (else \Deleted)
		gone bool
	}{
		{
			name:    "MOVE",
			caps:    capsFull,
			want:    []string{"CREATE", "UID MOVE"},
			wantNot: []string{"UID COPY", "UID STORE", "UID EXPUNGE", "EXPUNGE"},
			gone:    true,
		},
		{
			name:    "UIDPLUS without MOVE",
			caps:    capsUIDPlus,
			want:    []string{"CREATE", "UID COPY", "UID STORE", "UID EXPUNGE"},
			wantNot: []string{"UID MOVE", "MOVE", "EXPUNGE"},
			gone:    true,
		},
		{
			name:    "neither MOVE nor UIDPLUS",
			caps:    capsRev1Alone,
			want:    []string{"CREATE", "UID COPY", "UID STORE"},
			wantNot: []string{"UID MOVE", "MOVE", "UID EXPUNGE", "EXPUNGE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, serverOptions{caps: tt.caps})
			bodies := threeMessages(t, ts)
			other := ts.add(t, "INBOX", []imap.Flag{imap.FlagDeleted}, message(4, ""))[0]
			c := dialInbox(t, ts)
			ctx := context.Background()

			a := Action{Op: Move, Folder: "Processed"} // does not exist yet
			if err := c.Apply(ctx, []uint32{1, 3}, a); err != nil {
				t.Fatal(err)
			}
			moved := ts.messages(t, "Processed")
			if len(moved) != 2 {
				t.Errorf("Processed has %d messages, want 2", len(moved))
			}
			for _, m := range moved {
				if !bytes.Equal(m.Body, bodies[1]) && !bytes.Equal(m.Body, bodies[3]) {
					t.Errorf("Processed has %q, not one of the moved messages", m.Body)
				}
				if m.has(imap.FlagDeleted) {
					t.Errorf("the copy in Processed is \\Deleted")
				}
			}
			src := ts.messages(t, "INBOX")
			for _, uid := range []uint32{1, 3} {
				m, ok := src[uid]
				if tt.gone && ok {
					t.Errorf("UID %d still in INBOX", uid)
				}
				if !tt.gone && (!ok || !m.has(imap.FlagDeleted)) {
					t.Errorf("UID %d in INBOX: %v, %v; want present and \\Deleted", uid, ok, m.Flags)
				}
			}
			if m, ok := src[2]; !ok || m.has(imap.FlagDeleted) {
				t.Errorf("UID 2 in INBOX: %v, %v; want present and not \\Deleted", ok, m.Flags)
			}
			if m, ok := src[other]; !ok || !m.has(imap.FlagDeleted) {
				t.Errorf("someone else's \\Deleted message: %v, %v; want left alone", ok, m.Flags)
			}
			for _, cmd := range tt.want {
				if len(ts.commands(cmd)) == 0 {
					t.Errorf("no %s sent", cmd)
				}
			}
			for _, cmd := range tt.wantNot {
				if got := ts.commands(cmd); len(got) != 0 {
					t.Errorf("sent %q", got)
				}
			}
			if got := ts.commands("UID EXPUNGE"); len(got) > 0 && !strings.HasSuffix(got[0], "UID EXPUNGE 1,3\r") {
				t.Errorf("UID EXPUNGE of other messages than 1 and 3: %q", got)
			}

			// The folder is known now: no second CREATE.
			if err := c.Apply(ctx, []uint32{2}, a); err != nil {
				t.Fatal(err)
			}
			if got := ts.commands("CREATE"); len(got) != 1 {
				t.Errorf("CREATE sent %d times, want once: %q", len(got), got)
			}
			if got := len(ts.messages(t, "Processed")); got != 3 {
				t.Errorf("Processed has %d messages after the second move, want 3", got)
			}
		})
	}
}

func TestApplyMoveExistingFolder(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{})
	threeMessages(t, ts)
	if err := ts.user.Create("Processed", nil); err != nil {
		t.Fatal(err)
	}
	c := dialInbox(t, ts)
	// CREATE answers NO [ALREADYEXISTS], which is fine.
	if err := c.Apply(context.Background(), []uint32{2}, Action{Op: Move, Folder: "Processed"}); err != nil {
		t.Fatal(err)
	}
	if got := len(ts.messages(t, "Processed")); got != 1 {
		t.Errorf("Processed has %d messages, want 1", got)
	}
}

// A copy that fails must leave the source alone: no \Deleted, no EXPUNGE.
func TestApplyMoveFailedCopy(t *testing.T) {
	t.Parallel()
	for _, caps := range []imap.CapSet{capsUIDPlus, capsRev1Alone} {
		ts := startServer(t, serverOptions{caps: caps})
		threeMessages(t, ts)
		c := dialInbox(t, ts)
		// The in-memory server refuses to copy a mailbox into itself.
		err := c.Apply(context.Background(), []uint32{1, 2}, Action{Op: Move, Folder: "INBOX"})
		if err == nil || !strings.Contains(err.Error(), `copying UIDs 1:2 to "INBOX"`) {
			t.Errorf("Apply = %v, want a copy error", err)
		}
		for uid, m := range ts.messages(t, "INBOX") {
			if m.has(imap.FlagDeleted) {
				t.Errorf("UID %d flagged \\Deleted after a failed copy", uid)
			}
		}
		if got := append(ts.commands("UID STORE"), ts.commands("UID EXPUNGE")...); len(got) != 0 {
			t.Errorf("sent after a failed copy: %q", got)
		}
		if isClosed(err) {
			t.Errorf("a refused copy killed the client")
		}
	}
}

// With UIDPLUS, only the messages COPYUID names are removed.
func TestApplyMovePartialCopy(t *testing.T) {
	t.Parallel()
	ts := startServer(t, serverOptions{caps: capsUIDPlus})
	threeMessages(t, ts)
	c := dialInbox(t, ts)
	// UID 99 does not exist: the copy is OK, and COPYUID names only UID 1.
	err := c.Apply(context.Background(), []uint32{1, 99}, Action{Op: Move, Folder: "Processed"})
	if err == nil || !strings.Contains(err.Error(), "did not copy UIDs 99") {
		t.Errorf("Apply = %v, want an error naming UID 99", err)
	}
	if _, ok := ts.messages(t, "INBOX")[1]; ok {
		t.Errorf("UID 1, which was copied, is still in INBOX")
	}
	if got := ts.commands("UID EXPUNGE"); len(got) != 1 || !strings.HasSuffix(got[0], "UID EXPUNGE 1\r") {
		t.Errorf("UID EXPUNGE commands %q, want one for UID 1", got)
	}
}

func flagsByUID(msgs map[uint32]stored) map[uint32][]imap.Flag {
	m := make(map[uint32][]imap.Flag)
	for uid, msg := range msgs {
		m[uid] = msg.Flags
	}
	return m
}

func keys[V any](m map[uint32]V) []uint32 {
	var l []uint32
	for k := range m {
		l = append(l, k)
	}
	return l
}
