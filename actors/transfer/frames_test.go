package transfer

import (
	"bytes"
	"testing"
)

func TestFrames_RoundTrip(t *testing.T) {
	o := openFrame{id: 7, window: 1 << 20, name: "spindle.push"}
	if got, err := parseOpen(appendOpen(nil, o)); err != nil || got != o {
		t.Errorf("open: %+v %v", got, err)
	}
	d, err := parseData(append(appendDataHeader(nil, 9|fromAcceptor, 1<<40), "abc"...))
	if err != nil || d.id != 9|fromAcceptor || d.offset != 1<<40 || string(d.data) != "abc" {
		t.Errorf("data: %+v %v", d, err)
	}
	c := creditFrame{id: 3, add: 65536}
	if got, err := parseCredit(appendCredit(nil, c)); err != nil || got != c {
		t.Errorf("credit: %+v %v", got, err)
	}
	r := resetFrame{id: 4, code: CodeRefused, msg: "no"}
	if got, err := parseReset(appendReset(nil, r)); err != nil || got != r {
		t.Errorf("reset: %+v %v", got, err)
	}
	long := resetFrame{id: 4, code: CodeHandler, msg: string(bytes.Repeat([]byte("x"), 5000))}
	if got, err := parseReset(appendReset(nil, long)); err != nil || len(got.msg) != maxResetMsg {
		t.Errorf("long reset message: %d bytes, %v", len(got.msg), err)
	}
}

// TestFrames_Layout pins the byte layout of docs/protocol.md ("Streams").
func TestFrames_Layout(t *testing.T) {
	for _, tt := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"open", appendOpen(nil, openFrame{id: 1, window: 0x10000, name: "ab"}),
			[]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 'a', 'b'}},
		{"data", append(appendDataHeader(nil, 1|fromAcceptor, 2), 'z'),
			[]byte{0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 'z'}},
		{"credit", appendCredit(nil, creditFrame{id: 1, add: 5}), []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5}},
		{"reset", appendReset(nil, resetFrame{id: 1, code: CodeLimit, msg: "x"}),
			[]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 4, 0, 1, 'x'}},
	} {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s: % x, want % x", tt.name, tt.got, tt.want)
		}
	}
}

func TestFrames_Malformed(t *testing.T) {
	open := appendOpen(nil, openFrame{id: 1, window: 1, name: "x"})
	for name, b := range map[string][]byte{
		"empty": nil, "short": open[:5], "trailing": append(append([]byte(nil), open...), 0),
		"zero id":       appendOpen(nil, openFrame{id: 0, window: 1, name: "x"}),
		"acceptor's id": appendOpen(nil, openFrame{id: 1 | fromAcceptor, window: 1, name: "x"}),
	} {
		if _, err := parseOpen(b); err == nil {
			t.Errorf("open %s accepted", name)
		}
	}
	if _, err := parseData(make([]byte, dataHeader-1)); err == nil {
		t.Error("short data accepted")
	}
	if _, err := parseCredit(appendCredit(nil, creditFrame{id: 1, add: 0})); err == nil {
		t.Error("zero credit accepted")
	}
	if _, err := parseCredit(make([]byte, creditSize+1)); err == nil {
		t.Error("long credit accepted")
	}
	bad := appendReset(nil, resetFrame{id: 1, code: 1, msg: "ab"})
	if _, err := parseReset(bad[:len(bad)-1]); err == nil {
		t.Error("truncated reset accepted")
	}
}

// FuzzParseFrames: the stream frame parsers never panic, and what they
// accept encodes back to the same bytes.
func FuzzParseFrames(f *testing.F) {
	f.Add(appendOpen(nil, openFrame{id: 1, window: 1 << 20, name: "echo"}), byte(0))
	f.Add(append(appendDataHeader(nil, 2, 0), "data"...), byte(1))
	f.Add(appendCredit(nil, creditFrame{id: 3, add: 1}), byte(2))
	f.Add(appendReset(nil, resetFrame{id: 4, code: CodeCancel, msg: "gone"}), byte(3))
	f.Fuzz(func(t *testing.T, b []byte, which byte) {
		switch which % 4 {
		case 0:
			if o, err := parseOpen(b); err == nil && !bytes.Equal(appendOpen(nil, o), b) {
				t.Errorf("open %x re-encodes differently", b)
			}
		case 1:
			if d, err := parseData(b); err == nil && !bytes.Equal(append(appendDataHeader(nil, d.id, d.offset), d.data...), b) {
				t.Errorf("data %x re-encodes differently", b)
			}
		case 2:
			if c, err := parseCredit(b); err == nil && !bytes.Equal(appendCredit(nil, c), b) {
				t.Errorf("credit %x re-encodes differently", b)
			}
		case 3:
			if r, err := parseReset(b); err == nil && !bytes.Equal(appendReset(nil, r), b) {
				t.Errorf("reset %x re-encodes differently", b)
			}
		}
	})
}
