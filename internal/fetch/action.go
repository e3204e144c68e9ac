package fetch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Op is what a mailbox action does to a message.
type Op int

// The mailbox actions.
const (
	None   Op = iota // leave the message alone
	Seen             // add \Seen
	Flag             // add \Flagged
	Move             // move to Action.Folder
	Delete           // delete
)

// Action is a mailbox action: an Op, and the folder to Move to.
type Action struct {
	Op     Op
	Folder string // for Move
}

// ParseAction parses "none", "seen", "flag", "delete" or "move:FOLDER"
// (FOLDER not empty, taken as it is).
func ParseAction(s string) (Action, error) {
	switch s {
	case "none":
		return Action{Op: None}, nil
	case "seen":
		return Action{Op: Seen}, nil
	case "flag":
		return Action{Op: Flag}, nil
	case "delete":
		return Action{Op: Delete}, nil
	}
	if folder, ok := strings.CutPrefix(s, "move:"); ok {
		if folder == "" {
			return Action{}, fmt.Errorf("mailbox action %q: no folder; want move:FOLDER", s)
		}
		return Action{Op: Move, Folder: folder}, nil
	}
	return Action{}, fmt.Errorf("unknown mailbox action %q: want none, seen, flag, delete or move:FOLDER", s)
}

// String returns the action as ParseAction reads it.
func (a Action) String() string {
	switch a.Op {
	case None:
		return "none"
	case Seen:
		return "seen"
	case Flag:
		return "flag"
	case Move:
		return "move:" + a.Folder
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("Op(%d)", int(a.Op))
}

// Apply performs a on the messages uids of the selected mailbox. UIDs the
// mailbox no longer has are ignored by the server.
//
//   - None does nothing.
//   - Seen and Flag add \Seen or \Flagged (UID STORE +FLAGS.SILENT).
//   - Delete adds \Deleted, then, when the server has UIDPLUS, expunges
//     exactly those messages (UID EXPUNGE). Without UIDPLUS they stay in the
//     mailbox flagged \Deleted, for the mail client or the server's policy to
//     expunge: a plain EXPUNGE would also remove what others flagged.
//   - Move creates Folder unless it is known to exist (an "already exists"
//     answer is fine), then uses UID MOVE when the server has MOVE.
//     Otherwise it copies (UID COPY), and only for the messages the copy is
//     known to have reached (with UIDPLUS, the ones COPYUID names; else all,
//     on the server's OK) adds \Deleted and, with UIDPLUS, expunges them
//     (UID EXPUNGE). Without UIDPLUS the moved messages stay in the source
//     mailbox flagged \Deleted, as for Delete. A failed copy deletes nothing.
func (c *Client) Apply(ctx context.Context, uids []uint32, a Action) error {
	set := uidSet(uids)
	if a.Op == None || len(set) == 0 {
		return nil
	}
	doing := fmt.Sprintf("applying %s to UIDs %s", a, set)
	if err := c.needMailbox(doing); err != nil {
		return err
	}
	switch a.Op {
	case Seen:
		return c.run(ctx, doing, func() error { return c.addFlag(set, imap.FlagSeen) })
	case Flag:
		return c.run(ctx, doing, func() error { return c.addFlag(set, imap.FlagFlagged) })
	case Delete:
		return c.delete(ctx, set, doing)
	case Move:
		if a.Folder == "" {
			return fmt.Errorf("imap account %q: %s: no folder to move to", c.name, doing)
		}
		return c.move(ctx, set, a.Folder)
	}
	return fmt.Errorf("imap account %q: %s: unknown action", c.name, doing)
}

// addFlag adds flag to the messages set (UID STORE +FLAGS.SILENT).
func (c *Client) addFlag(set imap.UIDSet, flag imap.Flag) error {
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{flag}}
	return c.imap.Store(set, store, nil).Close()
}

// delete flags set \Deleted and, with UIDPLUS, expunges exactly set.
func (c *Client) delete(ctx context.Context, set imap.UIDSet, doing string) error {
	err := c.run(ctx, doing+`: flagging \Deleted`, func() error {
		return c.addFlag(set, imap.FlagDeleted)
	})
	if err != nil || !c.caps.UIDPlus {
		return err
	}
	return c.run(ctx, doing+": expunging", func() error {
		return c.imap.UIDExpunge(set).Close()
	})
}

// move moves the messages set to folder, creating it if need be.
func (c *Client) move(ctx context.Context, set imap.UIDSet, folder string) error {
	var createErr error // a refused CREATE, which may only mean the folder exists
	if !c.folders[folder] {
		createErr = c.run(ctx, fmt.Sprintf("creating folder %q", folder), func() error {
			err := c.imap.Create(folder, nil).Wait()
			var refused *imap.Error
			if errors.As(err, &refused) && refused.Code == imap.ResponseCodeAlreadyExists {
				return nil
			}
			return err
		})
		if createErr != nil && c.usable() != nil {
			return createErr
		}
		if createErr == nil {
			c.folders[folder] = true
		}
	}
	// after returns err, or createErr when the server says the folder does
	// not exist: then why CREATE failed is the news.
	after := func(err error) error {
		var refused *imap.Error
		if err != nil && createErr != nil && errors.As(err, &refused) && refused.Code == imap.ResponseCodeTryCreate {
			return createErr
		}
		if err == nil {
			c.folders[folder] = true
		}
		return err
	}

	if c.caps.Move {
		moved := false
		err := c.run(ctx, fmt.Sprintf("moving UIDs %s to %q", set, folder), func() error {
			// imapclient's Move falls back to COPY, STORE and EXPUNGE
			// without checking the copy when its capabilities lack MOVE:
			// check them again right here, never let it take that path.
			if !c.imap.Caps().Has(imap.CapMove) {
				return nil
			}
			moved = true
			_, err := c.imap.Move(set, folder).Wait()
			return err
		})
		if err != nil || moved {
			return after(err)
		}
	}
	return after(c.copyDelete(ctx, set, folder))
}

// copyDelete moves set to folder without MOVE: UID COPY, then \Deleted and
// (with UIDPLUS) UID EXPUNGE for the messages the copy is known to have
// reached. It never sends a plain EXPUNGE.
func (c *Client) copyDelete(ctx context.Context, set imap.UIDSet, folder string) error {
	doing := fmt.Sprintf("copying UIDs %s to %q", set, folder)
	var data *imap.CopyData
	err := c.run(ctx, doing, func() error {
		var err error
		data, err = c.imap.Copy(set, folder).Wait()
		return err
	})
	if err != nil {
		return err
	}
	copied, missing := set, imap.UIDSet(nil)
	// RFC 4315 3: COPYUID names the source messages copied. A server with
	// UIDPLUS may omit it (UIDNOTSTICKY); then, as without UIDPLUS, the
	// tagged OK says the whole copy was done (RFC 3501 6.4.7).
	if c.caps.UIDPlus && len(data.SourceUIDs) > 0 {
		copied, missing = nil, nil
		uids, _ := set.Nums()
		for _, uid := range uids {
			if data.SourceUIDs.Contains(uid) {
				copied.AddNum(uid)
			} else {
				missing.AddNum(uid)
			}
		}
	}
	if len(copied) > 0 {
		deleteDoing := fmt.Sprintf("removing UIDs %s copied to %q", copied, folder)
		if err := c.delete(ctx, copied, deleteDoing); err != nil {
			return err
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("imap account %q: %s: the server did not copy UIDs %s (not in its COPYUID answer); they stay in place", c.name, doing, missing)
	}
	return nil
}
