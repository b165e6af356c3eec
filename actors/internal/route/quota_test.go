package route

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func TestTable_AllowGrant(t *testing.T) {
	for _, c := range []struct {
		name  string
		lim   Limits
		steps []grantStep
	}{
		{"outstanding IDs", Limits{GrantedIDs: 100, BlockBurst: 1000}, []grantStep{
			{7, 60, 0, nil}, {7, 40, 0, nil}, {7, 1, 0, ErrIDQuota}, {9, 100, 0, nil}, // per link
		}},
		{"block rate", Limits{BlockRate: 2, BlockBurst: 2}, []grantStep{
			{7, 1, 0, nil}, {7, 1, 0, nil}, {7, 1, 0, ErrIDRate},
			{7, 1, 400 * time.Millisecond, ErrIDRate}, // 0.8 tokens
			{7, 1, 500 * time.Millisecond, nil},       // 1.0
			{7, 1, 500 * time.Millisecond, ErrIDRate},
			{7, 1, time.Hour, nil}, {7, 1, time.Hour, nil}, {7, 1, time.Hour, ErrIDRate}, // refills to the burst only
			{9, 1, time.Hour, nil},
		}},
		{"defaults", Limits{}, []grantStep{{7, DefaultGrantedIDs, 0, nil}, {7, 1, 0, ErrIDQuota}}},
		{"clock going back", Limits{BlockRate: 1, BlockBurst: 1}, []grantStep{
			{7, 1, time.Second, nil}, {7, 1, 0, ErrIDRate}, {7, 1, 2 * time.Second, nil},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := New(0, "root", nil, c.lim)
			for i, s := range c.steps {
				err := tb.AllowGrant(s.via, s.count, t0.Add(s.at))
				if !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
					t.Fatalf("step %d: AllowGrant(%d, %d, +%v) = %v, want %v", i, s.via, s.count, s.at, err, s.want)
				}
			}
		})
	}
}

type grantStep struct {
	via, count uint32
	at         time.Duration
	want       error
}

// TestTable_ChildDownFreesQuota: a link's usage and grant records go with
// it; a new link starts with a fresh budget.
func TestTable_ChildDownFreesQuota(t *testing.T) {
	tb := New(0, "root", nil, Limits{GrantedIDs: 10})
	tb.AddChild(7, "a")
	if err := tb.AllowGrant(7, 10, t0); err != nil {
		t.Fatal(err)
	}
	tb.Grant(100, 10, 7)
	tb.ChildDown(7)
	if len(tb.grants) != 0 || len(tb.usage) != 0 {
		t.Fatalf("after ChildDown: %d grants, %d usage records", len(tb.grants), len(tb.usage))
	}
}

func TestTable_AllowLog(t *testing.T) {
	tb := New(0, "root", nil, Limits{LogRate: 10, LogBurst: 3})
	for i := 0; i < 3; i++ {
		if _, err := tb.AllowLog(7, t0); err != nil {
			t.Fatal(err)
		}
	}
	for i := uint64(1); i <= 2; i++ {
		if n, err := tb.AllowLog(7, t0); !errors.Is(err, ErrLogRate) || n != i {
			t.Fatalf("record %d = %d, %v; want %d, ErrLogRate", 3+i, n, err, i)
		}
	}
	if n, err := tb.AllowLog(7, t0.Add(100*time.Millisecond)); err != nil || n != 2 {
		t.Fatalf("after 100ms: %d, %v; want 2 dropped before", n, err)
	}
	if n, _ := tb.AllowLog(7, t0.Add(200*time.Millisecond)); n != 0 {
		t.Fatalf("dropped count not reset: %d", n)
	}
	if !tb.FirstTrip(7, TripLogs) || tb.FirstTrip(7, TripLogs) || !tb.FirstTrip(7, TripIDs) || !tb.FirstTrip(9, TripLogs) {
		t.Fatal("FirstTrip")
	}
}

// TestTable_DeadRecordsBounded: the dead set keeps the last DeadRecords
// deaths, with names and reasons bounded and not pinning their source.
func TestTable_DeadRecordsBounded(t *testing.T) {
	tb := New(0, "root", nil, Limits{DeadRecords: 8, GrantedIDs: 1 << 20, BlockBurst: 1 << 20})
	tb.AddChild(1, "child")
	tb.Grant(2, 1000, 1)
	big := strings.Repeat("n", 1<<20)
	for id := uint32(2); id < 100; id++ {
		tb.AddRoutes(1, []uint32{id}, []string{big})
		if got := len(tb.Name(id)); got != MaxName {
			t.Fatalf("name kept %d bytes, want %d", got, MaxName)
		}
		tb.MarkDead([]uint32{id}, Dead{Reason: big})
	}
	if tb.DeadCount() != 8 || len(tb.deadOrder) != 8 {
		t.Fatalf("%d dead records, want 8", tb.DeadCount())
	}
	for id := uint32(92); id < 100; id++ {
		d, ok := tb.Dead(id)
		if !ok || len(d.Reason) != MaxReason || len(d.Name) != MaxName {
			t.Fatalf("Dead(%d) = %d-byte reason, %d-byte name, %v", id, len(d.Reason), len(d.Name), ok)
		}
	}
	if _, ok := tb.Dead(91); ok {
		t.Fatal("the oldest dead record was kept")
	}
	if len(tb.names) != 2 { // root and the child
		t.Fatalf("%d names kept", len(tb.names))
	}
}

func TestBound(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 5, "abc"}, {"abcdef", 3, "abc"}, {"aé", 2, "a"}, {"日本", 4, "日"}, {"日本", 6, "日本"}, {"", 0, ""},
	} {
		if got := Bound(c.in, c.max); got != c.want {
			t.Errorf("Bound(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}
