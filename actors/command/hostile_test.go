package command_test

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/command"
	"github.com/spindle-go/spindle/actors/transfer"
)

// TestServe_GarbageRequests: a context allowed to run commands sends
// records that are not a command; each stream is reset with a handler
// error, nothing runs, and the runner goes on serving.
func TestServe_GarbageRequests(t *testing.T) {
	open := actors.Config{Setup: setupWith(command.Config{Allow: transfer.Anyone})}
	root := newRoot(t, open)
	c := attach(t, root, "hostile", open)
	tr := transferOf(c.node)
	record := func(typ byte, n uint32, body []byte) []byte {
		b := append([]byte{typ}, binary.BigEndian.AppendUint32(nil, n)...)
		return append(b, body...)
	}
	for name, in := range map[string][]byte{
		"huge length":    record(1, 1<<31, nil),
		"wrong type":     record(4, 2, []byte("hi")),
		"not msgpack":    record(1, 3, []byte{0xc1, 0xc1, 0xc1}),
		"empty path":     record(1, 1, []byte{0x80}),
		"short header":   {1, 0},
		"nothing at all": nil,
	} {
		s, err := tr.Open(timeout(t), root.ID(), "spindle.command")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.Write(in)
		_ = s.CloseWrite()
		_, err = io.ReadAll(s)
		if !errors.Is(err, transfer.ErrHandler) {
			t.Errorf("%s: %v, want a handler error", name, err)
		}
		s.Close()
	}
	if err := runner(c.node).Run(timeout(t), root.ID(), command.Cmd{Path: "true"}); err != nil {
		t.Fatalf("a proper command after the garbage: %v", err)
	}
}
