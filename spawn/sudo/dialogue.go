package sudo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// Limits on what is read from stdout before the marker (output of a login
// shell's startup files under -i or su -l).
const (
	maxNoiseBytes = 64 << 10
	maxNoiseLines = 200
)

// markerPrefix starts the line the wrapped command prints once it runs:
// the positive sign that authentication is over.
const markerPrefix = "SPINDLE-AUTH/1 ok "

// errNoMarker means stdout ended before the marker line.
var errNoMarker = errors.New("stdout ended before the command ran")

// token returns 16 random hex digits.
func token() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dialogue is one start's authentication, shared by the three tools: it
// waits for the marker on stdout and answers at most one prompt with the
// password. It runs in Start's goroutine; the channels are fed by the
// runner's readers.
type dialogue struct {
	method, user string
	auth         *Auth
	prompts      <-chan struct{} // one value per prompt seen
	marker       <-chan error    // nil: marker seen; else why stdout ended
	answer       func(line []byte) error
	// exitAfterPassword is the sentinel for a tool that ends after it was
	// given the password without running the command.
	exitAfterPassword error
}

// run returns nil once the command runs, else a sentinel (or the
// context's error, joined with ErrAuthTimeout) and the prompts seen.
func (d *dialogue) run(ctx context.Context) (int, error) {
	prompts, sent := 0, false
	for {
		select {
		case err := <-d.marker:
			switch {
			case err == nil:
				return prompts, nil
			case !errors.Is(err, errNoMarker):
				return prompts, fmt.Errorf("%w: %w", ErrRefused, err)
			case sent:
				return prompts, d.exitAfterPassword
			}
			return prompts, ErrRefused
		case <-d.prompts:
			prompts++
			if sent {
				return prompts, ErrBadPassword
			}
			if err := d.sendPassword(ctx); err != nil {
				return prompts, err
			}
			sent = true
		case <-ctx.Done():
			return prompts, errors.Join(ErrAuthTimeout, ctx.Err())
		}
	}
}

// sendPassword asks the callback once and writes the answer, then clears
// every copy this package made.
func (d *dialogue) sendPassword(ctx context.Context) error {
	if d.auth.Password == nil {
		return ErrPasswordRequired
	}
	pw, err := d.auth.Password(ctx)
	if err != nil {
		return fmt.Errorf("%w: the password callback failed: %w", ErrPasswordRequired, err)
	}
	if len(pw) == 0 {
		return ErrPasswordRequired
	}
	if bytes.ContainsAny(pw, "\r\n\x00") {
		clear(pw)
		return fmt.Errorf("%w: the password holds a line break or NUL, which the tool would cut", ErrPasswordRequired)
	}
	line := make([]byte, len(pw)+1)
	copy(line, pw)
	line[len(pw)] = '\n'
	clear(pw)
	err = d.answer(line)
	clear(line)
	if err != nil {
		return fmt.Errorf("%w: writing the password: %w", ErrRefused, err)
	}
	d.auth.logger().Debug("sudo: password sent", "method", d.method, "user", d.user)
	return nil
}

// readMarker reads r until the marker line and reports on ch: nil when it
// came (r then holds what follows it), an error when stdout ended or sent
// too much else first. Other lines are logged at Debug.
func readMarker(r *bufio.Reader, marker string, log *slog.Logger, ch chan<- error) {
	noise, lines := 0, 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			noise += len(line)
			for errors.Is(err, bufio.ErrBufferFull) && noise <= maxNoiseBytes {
				line, err = r.ReadSlice('\n')
				noise += len(line)
			}
			line = nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errNoMarker
			}
			ch <- err
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		if string(line) == marker {
			ch <- nil
			return
		}
		noise += len(line)
		lines++
		log.Debug("sudo: output before the command ran", "line", truncate(string(line), 200))
		if noise > maxNoiseBytes || lines > maxNoiseLines {
			ch <- fmt.Errorf("more than %d lines or %d bytes of other output before the command ran", maxNoiseLines, maxNoiseBytes)
			return
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
