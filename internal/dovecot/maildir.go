package dovecot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Counts tells what a mailbox holds on disk.
type Counts struct {
	All     int // files in new/ and cur/
	Seen    int // Maildir flag S
	Flagged int // Maildir flag F
	Deleted int // Maildir flag T (\Deleted, not yet expunged)
}

// Deliver puts messages into a user's mailbox, "INBOX" or a folder such as
// "Processed", making the user's Maildir and the folder as needed (with no
// messages, it only makes them). Each message is written as given into
// tmp/ and renamed into new/, the way a delivery agent does, without
// fsync; Dovecot gives it a UID when it next looks at the mailbox (at once
// for a session in IDLE, which watches new/ with inotify). UIDs follow the
// order of delivery.
//
// Folders follow the Maildir++ layout of mail_location =
// maildir:~/Maildir: ~/Maildir/.Name, with "." as the hierarchy separator.
// Deliver is safe for concurrent use.
func (s *Server) Deliver(user, mailbox string, msgs ...[]byte) error {
	dir, err := s.mailboxDir(user, mailbox)
	if err != nil {
		return err
	}
	if err := s.makeMaildir(user, dir); err != nil {
		return fmt.Errorf("making the maildir of %s %s: %w", user, mailbox, err)
	}
	tmp, dst := filepath.Join(dir, "tmp"), filepath.Join(dir, "new")
	pid := os.Getpid()
	for _, msg := range msgs {
		// Maildir names: <secs>.M<usecs>P<pid>.<host>, then Dovecot's
		// ",S=<size>" so that it need not stat the file for RFC822.SIZE.
		// Dovecot numbers new files in the order of the time in their
		// names, so each gets a later one than the last.
		t := s.stamp()
		name := fmt.Sprintf("%d.M%dP%d.bounced,S=%d", t.Unix(), t.Nanosecond()/1000, pid, len(msg))
		if err := s.writeFile(filepath.Join(tmp, name), msg); err != nil {
			return fmt.Errorf("delivering to %s %s: %w", user, mailbox, err)
		}
		if err := os.Rename(filepath.Join(tmp, name), filepath.Join(dst, name)); err != nil {
			return fmt.Errorf("delivering to %s %s: %w", user, mailbox, err)
		}
	}
	return nil
}

// stamp is the time for the next file name: now, or a microsecond after
// the last one, so that names are unique and ordered.
func (s *Server) stamp() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := time.Now().Truncate(time.Microsecond)
	if !t.After(s.last) {
		t = s.last.Add(time.Microsecond)
	}
	s.last = t
	return t
}

func (s *Server) writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && s.uid >= 0 {
		err = f.Chown(s.uid, s.gid)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// makeMaildir makes the user's home, Maildir (which is INBOX) and the
// mailbox's folder, each with cur/, new/ and tmp/, owned by the mail's
// owner. A Maildir++ folder also holds an empty "maildirfolder" file.
func (s *Server) makeMaildir(user, dir string) error {
	home := filepath.Join(s.Dir, "home", strings.ToLower(user))
	root := filepath.Join(home, "Maildir")
	paths := []string{home, root}
	for _, d := range []string{root, dir} {
		paths = append(paths, d, filepath.Join(d, "cur"), filepath.Join(d, "new"), filepath.Join(d, "tmp"))
	}
	for _, p := range paths {
		if err := os.Mkdir(p, 0o700); errors.Is(err, fs.ErrExist) {
			continue
		} else if err != nil {
			return err
		}
		if err := s.chown(p); err != nil {
			return err
		}
	}
	if dir == root {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	} else if err != nil {
		return err
	}
	if s.uid >= 0 {
		err = f.Chown(s.uid, s.gid)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Count reads the mailbox's new/ and cur/ folders. It is exact while no
// IMAP command changes the mailbox: call it between commands. A mailbox
// never delivered to nor made by Dovecot is an error wrapping
// fs.ErrNotExist.
func (s *Server) Count(user, mailbox string) (Counts, error) {
	dir, err := s.mailboxDir(user, mailbox)
	if err != nil {
		return Counts{}, err
	}
	// Dovecot moves files from new/ to cur/ when it sees them: read new/
	// first, then a file moved meanwhile shows up twice, not never, and
	// counts once by its base name (the part before ":2,").
	flags := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return Counts{}, fmt.Errorf("counting %s %s: %w", user, mailbox, err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				base, info, _ := strings.Cut(e.Name(), ":2,")
				flags[base] = info
			}
		}
	}
	c := Counts{All: len(flags)}
	for _, info := range flags {
		// Maildir info flags: S seen, F flagged, T trashed (\Deleted).
		if strings.Contains(info, "S") {
			c.Seen++
		}
		if strings.Contains(info, "F") {
			c.Flagged++
		}
		if strings.Contains(info, "T") {
			c.Deleted++
		}
	}
	return c, nil
}

// Messages reads the messages of the mailbox as they are on disk, for
// checking what a client did to them. Like Count, call it between IMAP
// commands; a missing mailbox is an error wrapping fs.ErrNotExist.
func (s *Server) Messages(user, mailbox string) ([][]byte, error) {
	dir, err := s.mailboxDir(user, mailbox)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out [][]byte
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", user, mailbox, err)
		}
		for _, e := range entries {
			base, _, _ := strings.Cut(e.Name(), ":2,")
			if !e.Type().IsRegular() || seen[base] {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if errors.Is(err, fs.ErrNotExist) && sub == "new" {
				continue // moved to cur/ meanwhile: read there
			}
			if err != nil {
				return nil, fmt.Errorf("reading %s %s: %w", user, mailbox, err)
			}
			seen[base] = true
			out = append(out, b)
		}
	}
	return out, nil
}

// ResetUIDValidity removes the mailbox's dovecot-uidlist and index files,
// and the user's mailbox list index, so that Dovecot gives the mailbox a
// new UIDVALIDITY and new UIDs the next time it opens it. The messages
// and their flags stay. A session that has the mailbox selected meanwhile
// gets "* BYE IMAP session state is inconsistent, please relogin." at its
// next command, and is disconnected.
func (s *Server) ResetUIDValidity(user, mailbox string) error {
	dir, err := s.mailboxDir(user, mailbox)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "cur")); err != nil {
		return fmt.Errorf("resetting the UIDVALIDITY of %s %s: %w", user, mailbox, err)
	}
	root := filepath.Join(s.Dir, "home", strings.ToLower(user), "Maildir")
	for _, pattern := range []string{
		filepath.Join(dir, "dovecot-uidlist*"),
		filepath.Join(dir, "dovecot.index*"),
		// The list index remembers each mailbox's UIDVALIDITY too.
		filepath.Join(root, "dovecot.list.index*"),
	} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("resetting the UIDVALIDITY of %s %s: %w", user, mailbox, err)
			}
		}
	}
	return nil
}

// mailboxDir maps a user and mailbox to the Maildir folder:
// home/USER/Maildir for INBOX, home/USER/Maildir/.NAME for a folder. USER
// is lower-cased, as Dovecot's default auth_username_format (%Lu) does at
// login.
func (s *Server) mailboxDir(user, mailbox string) (string, error) {
	if user == "" || strings.HasPrefix(user, ".") || strings.IndexFunc(user, badUserRune) >= 0 {
		return "", fmt.Errorf("user %q: only letters, digits and ._+-@ are supported", user)
	}
	user = strings.ToLower(user)
	root := filepath.Join(s.Dir, "home", user, "Maildir")
	if strings.EqualFold(mailbox, "INBOX") {
		return root, nil
	}
	// Non-ASCII names would need modified UTF-7 on disk, '&' escaping,
	// and '/' is no hierarchy separator in Maildir++.
	if mailbox == "" || strings.HasPrefix(mailbox, ".") || strings.HasSuffix(mailbox, ".") ||
		strings.Contains(mailbox, "..") || strings.ContainsAny(mailbox, "/&") ||
		strings.IndexFunc(mailbox, func(r rune) bool { return r < ' ' || r >= 0x7f }) >= 0 {
		return "", fmt.Errorf("mailbox %q: only printable ASCII without '/' and '&' is supported, '.' separating levels", mailbox)
	}
	return filepath.Join(root, "."+mailbox), nil
}

func badUserRune(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._+-@", r))
}
