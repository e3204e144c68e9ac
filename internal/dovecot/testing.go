package dovecot

import (
	"os"
	"testing"
)

// EnvRequire names the variable that makes a missing Dovecot fail the
// tests instead of skipping them; CI sets it to 1.
const EnvRequire = "BOUNCED_REQUIRE_DOVECOT"

// ForTest starts a server for a test and stops it when the test ends. Without
// Dovecot it skips the test, saying what to install, unless
// BOUNCED_REQUIRE_DOVECOT=1, when it fails it.
//
// The server's folder comes from os.MkdirTemp, not t.TempDir: a test's
// name may hold spaces or '%', which a Dovecot configuration cannot take,
// and t.TempDir's parent is closed to the dovecot user. It is removed at
// the end of the test.
func ForTest(t testing.TB, opt Options) *Server {
	t.Helper()
	return forTest(t, opt, Binary, os.Getenv(EnvRequire) == "1")
}

func forTest(t testing.TB, opt Options, binary func() (string, error), require bool) *Server {
	t.Helper()
	if _, err := binary(); err != nil {
		if require {
			t.Fatalf("%v (%s=1 requires it)", err, EnvRequire)
		}
		t.Skipf("no Dovecot to test against: %v", err)
	}
	dir, err := os.MkdirTemp("", "bounced-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s, err := Start(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping dovecot: %v", err)
		}
	})
	return s
}
