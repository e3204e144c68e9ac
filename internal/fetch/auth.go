package fetch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-sasl"
)

// maxShown bounds what an error quotes of a token command's standard error or
// of a server's XOAUTH2 refusal.
const maxShown = 300

// saslClient returns how to log in: nil for the LOGIN command, else the SASL
// mechanism to AUTHENTICATE with. For XOAUTH2 it gets the token first.
func (a Account) saslClient(ctx context.Context, timeout time.Duration) (sasl.Client, error) {
	switch a.Auth {
	case "", "login":
		return nil, nil
	case "plain":
		return sasl.NewPlainClient("", a.Username, a.Password), nil
	case "xoauth2":
		token, err := a.token(ctx, timeout)
		if err != nil {
			return nil, err
		}
		return &xoauth2Client{username: a.Username, token: token}, nil
	default:
		return nil, fmt.Errorf(`unknown auth %q: want "login", "plain" or "xoauth2"`, a.Auth)
	}
}

// token reads the XOAUTH2 access token from TokenFile or TokenCommand.
func (a Account) token(ctx context.Context, timeout time.Duration) (string, error) {
	var raw []byte
	var from string
	switch {
	case a.TokenFile != "" && len(a.TokenCommand) > 0:
		return "", errors.New(`auth "xoauth2": set TokenFile or TokenCommand, not both`)
	case a.TokenFile != "":
		from = "token file " + a.TokenFile
		var err error
		if raw, err = os.ReadFile(a.TokenFile); err != nil {
			return "", fmt.Errorf("reading token file: %w", err)
		}
	case len(a.TokenCommand) > 0:
		from = fmt.Sprintf("token command %q", a.TokenCommand[0])
		var err error
		if raw, err = runTokenCommand(ctx, a.TokenCommand, timeout); err != nil {
			return "", fmt.Errorf("running %s: %w", from, err)
		}
	default:
		return "", errors.New(`auth "xoauth2" needs TokenFile or TokenCommand`)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", fmt.Errorf("%s: no token in it", from)
	}
	// A control character (a second line, the ^A of the XOAUTH2 framing)
	// would garble the exchange; the token itself is never quoted.
	if strings.ContainsFunc(token, unicode.IsControl) {
		return "", fmt.Errorf("%s: the token has control characters or more than one line", from)
	}
	return token, nil
}

// runTokenCommand runs argv under timeout and returns its standard output.
func runTokenCommand(ctx context.Context, argv []string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// A child that keeps standard output open must not hold us after the
	// command itself is gone.
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err == nil {
		return out, nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w (after %v)", ctx.Err(), timeout)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return nil, fmt.Errorf("%w: %s", err, shorten(exit.Stderr))
	}
	return nil, err
}

// shorten makes b fit in an error message: trimmed, cut at maxShown bytes.
func shorten(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > maxShown {
		s = s[:maxShown] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// xoauth2Client is the SASL client for XOAUTH2, Google's and Microsoft's
// OAuth 2 mechanism (go-sasl has only the standard OAUTHBEARER).
// https://developers.google.com/gmail/imap/xoauth2-protocol
type xoauth2Client struct {
	username, token string
}

// Start returns the initial response: user, token, ^A separators.
func (x *xoauth2Client) Start() (mech string, ir []byte, err error) {
	return "XOAUTH2", []byte("user=" + x.username + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next is called only when the server refuses the token: its challenge is
// then a JSON error (status, scope), which says more than the NO that would
// follow. It becomes the error; Dial then drops the connection.
func (x *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	return nil, fmt.Errorf("XOAUTH2 token refused: %s", shorten(challenge))
}
