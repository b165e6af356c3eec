package wire

import (
	"bytes"
	"errors"
	"testing"
)

// TestDeadReply_CauseLayout pins the cause trailer of a dead reply: flag
// bit 1, then after the reason a cause byte and a big-endian i32 detail. A
// reply without cause is byte for byte the encoding of earlier versions.
func TestDeadReply_CauseLayout(t *testing.T) {
	plain := AppendDeadReply(nil, DeadReply{TargetCtx: 7, Target: "w", Reason: "r"})
	wantPlain := []byte{0x00, 0x00, 0, 0, 0, 7, 1, 'w', 1, 'r'}
	if !bytes.Equal(plain, wantPlain) {
		t.Fatalf("no cause: % x, want % x", plain, wantPlain)
	}
	got := AppendDeadReply(nil, DeadReply{TargetCtx: 7, Target: "w", Reason: "r", Cause: CauseExit, Detail: 137})
	want := []byte{0x02, 0x00, 0, 0, 0, 7, 1, 'w', 1, 'r', 2, 0, 0, 0, 137}
	if !bytes.Equal(got, want) {
		t.Fatalf("with cause: % x, want % x", got, want)
	}
	neg := AppendDeadReply(nil, DeadReply{Cause: CauseExit, Detail: -1})
	if tail := neg[len(neg)-5:]; !bytes.Equal(tail, []byte{2, 0xff, 0xff, 0xff, 0xff}) {
		t.Fatalf("detail -1: % x", tail)
	}
}

// TestCause_Codes pins the cause numbers: they travel between binaries and
// are never renumbered.
func TestCause_Codes(t *testing.T) {
	want := map[Cause]uint8{CauseUnknown: 0, CauseClosed: 1, CauseExit: 2, CauseHeartbeat: 3, CauseProtocol: 4,
		CauseStalled: 5, CauseNoRoute: 6, CausePolicy: 7, CauseQuota: 8, CauseShutdown: 9, CauseWatchLimit: 10,
		CauseCongested: 11}
	for c, n := range want {
		if uint8(c) != n {
			t.Errorf("%s = %d, want %d", c, uint8(c), n)
		}
		if !c.Known() || c.String() == "" {
			t.Errorf("%d: Known %v, String %q", n, c.Known(), c.String())
		}
	}
	if Cause(200).Known() || Cause(200).String() != "Cause(200)" {
		t.Errorf("Cause(200): Known %v, String %q", Cause(200).Known(), Cause(200).String())
	}
	if CauseHeartbeat.String() != "heartbeat" || CauseNoRoute.String() != "no route" {
		t.Errorf("names %q %q", CauseHeartbeat, CauseNoRoute)
	}
}

func TestDeadReply_CauseRoundTrip(t *testing.T) {
	for _, d := range []DeadReply{
		{Cause: CauseHeartbeat, Reason: "heartbeat timeout"},
		{Target: "w", TargetCtx: 3, HasSender: true, SenderCtx: 1, SenderID: "$r1", Code: DeadRejected, Cause: CausePolicy},
		{Cause: CauseExit, Detail: 137, Reason: "signal: killed"},
		{Cause: CauseUnknown, Detail: 5}, // a detail alone still travels
		{Cause: 250, Reason: "a newer peer's cause"},
	} {
		got, err := ParseDeadReply(AppendDeadReply(nil, d))
		if err != nil || got != d {
			t.Fatalf("round trip of %+v: %+v, %v", d, got, err)
		}
	}
}

func TestDeadReply_CauseMalformed(t *testing.T) {
	good := AppendDeadReply(nil, DeadReply{Reason: "r", Cause: CauseHeartbeat})
	plain := AppendDeadReply(nil, DeadReply{Reason: "r"})
	for name, b := range map[string][]byte{
		"flag without trailer": append([]byte{0x02}, plain[1:]...),
		"truncated cause":      good[:len(good)-5],
		"truncated detail":     good[:len(good)-1],
		"empty trailer":        append(append([]byte{0x02}, plain[1:]...), 0, 0, 0, 0, 0),
		"trailing":             append(append([]byte(nil), good...), 0),
	} {
		if _, err := ParseDeadReply(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseDeadReply = %v, want ErrMalformed", name, err)
		}
	}
	for i := 0; i < len(good); i++ {
		if _, err := ParseDeadReply(good[:i]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d: %v", i, err)
		}
	}
}
